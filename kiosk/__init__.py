"""The self-service kiosk: where a customer takes a number, by button, bank card, passbook or ID card.

flow.py makes the kiosk's decisions (what the screen asks next, which business and tier a ticket
gets), free of the bus, the screen and threads; recognition.py turns a card into a keyed hash, a
tier from the roster and a masked name, so no raw number leaves the kiosk; staff.py authorises
lobby staff granting priority; ticket.py lays out the printed ticket; screen.py draws the touch
screen; bus.py talks to the core; app.py wires them into one running kiosk. A package of its own
because a kiosk is its own machine in the hall and shares only qbus and hw with the rest.
"""
