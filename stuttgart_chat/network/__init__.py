"""Bytes <-> frames, and the injected delay that makes reordering happen on purpose."""

from .messenger import FrameDecoder, FrameReader, decode_body, encode_frame, recv_msg, send_msg
from .reorder import DelayPolicy, LinkDelay

__all__ = [
    "DelayPolicy",
    "FrameDecoder",
    "FrameReader",
    "LinkDelay",
    "decode_body",
    "encode_frame",
    "recv_msg",
    "send_msg",
]
