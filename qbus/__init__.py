"""The bus contract every component shares: payload structs (messages.py), the branch TOML schema
(config/), the topic tree (topics.py), roles and ACLs (roles.py, provision.py), the MQTT client
wrapper (client.py) and brokers (broker.py). Components never import each other, so this is the one
place they agree on what a message is."""
