"""The hardware a branch plugs in, one small interface per device kind, each with a simulated twin.

Components never import each other, yet the kiosk, the serial bridge and the demo all drive the
same card readers, printers, buttons and keypads: this package is where those adapters live, so a
device is wrapped once (pyserial, python-escpos, gpiozero behind `identity.CardReader`,
`printer.Printer`, `buttons`, `keypad`) and every twin (`twinpty.PtyTwin` and its subclasses)
behaves like the device on a real wire. Imports only qbus (docs/architecture.md).
"""
