"""Colours and fixed captions of the hall screen, in Chinese with English.

High contrast on a dark ground, readable across a banking hall; the newest call blinks between
the amber highlight and the normal row so it catches the eye without hiding the number.
"""

from __future__ import annotations

Color = tuple[int, int, int]

BG: Color = (10, 28, 56)
HEADER_BG: Color = (6, 18, 38)
PANEL_BG: Color = (16, 40, 76)
ROW_BG: Color = (22, 52, 96)
HIGHLIGHT_BG: Color = (255, 176, 0)
HIGHLIGHT_FG: Color = (24, 16, 0)
TICKER_BG: Color = (120, 10, 20)
OFFLINE_BG: Color = (200, 30, 30)

TEXT: Color = (240, 244, 250)
MUTED: Color = (150, 170, 200)
NUMBER: Color = (255, 214, 74)
COUNTER: Color = (130, 220, 255)
PAUSED: Color = (255, 120, 110)
LINE: Color = (50, 86, 136)

CALLING = ("正在呼叫", "Now calling")
RECENT = ("最近呼叫", "Recent calls")
WAITING = ("等候人数", "Waiting")
PAUSED_TITLE = ("暂停服务", "Paused")
NONE_PAUSED = ("无", "none")
OFFLINE = "离线 offline"
IDLE = ("暂无叫号，请留意屏幕和语音叫号", "No number is being called. Please watch this screen and listen for your number.")
NO_RECENT = ("暂无更早的呼叫", "No earlier calls yet")
IDLE_WAITING = ("现有 {n} 位客户等候", "{n} waiting")
PEOPLE = ("人", "")
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

BLINK_PERIOD_S = 1.0
TICKER_SPEED = 0.09  # screen widths per second: a long notice crosses a 1080p screen in ~11 s
