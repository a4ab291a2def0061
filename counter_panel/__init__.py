"""A counter's state machine (machine.py: keys -> commands, bus state -> LED text and prompts),
the pre-opening pad check (preopen.py) and the software panel (terminal.py). Pure except terminal."""
