"""Attribution: tags with provenance and confidence, actors, and their propagation to
entities. Other areas call `address_tags`, `entity_tags` and `entity_label`."""

from chainsleuth.analytics.attribution.propagation import (
    address_tags,
    entity_label,
    entity_tags,
)

__all__ = ["address_tags", "entity_label", "entity_tags"]
