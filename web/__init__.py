"""The branch web service: the manager's and the lobby's live pages, with their actions.

A bus device like the hall display: it reads retained state and events through one bus
subscription, fans them out to the open pages by Server-Sent Events, and sends commands (naming
the person acting) that the core journals. It never opens the core's journal.
"""
