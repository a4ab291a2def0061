"""Serial pads <-> bus. The protocol (docs/serial-protocol.md) lives in small modules:

frame.py   Frame, Command / Key / Voice codes, constructors and typed readers, validate()
codec.py   the Codec seam and the registry (`get_codec(config name)`)
qframe.py  our framing (flags + stuffing + CRC-16/CCITT); dlt645.py the 呼叫器 framing
dedup.py   de-duplication of resent frames; link.py HostLink, the host end of one line
"""
