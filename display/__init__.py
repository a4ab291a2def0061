"""The hall display (pygame screen of called numbers) and voice calling (offline clips).

Driven only by bus messages handed in by the caller; see `display.app.run_display`.
"""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
