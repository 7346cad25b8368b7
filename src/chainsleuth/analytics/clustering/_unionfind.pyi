"""Type stub of the C hot loop of the batch union-find (`_unionfind.c`)."""

from typing import Any

def union_edges(labels: Any, a: Any, b: Any, gone: Any, width: int) -> int: ...
