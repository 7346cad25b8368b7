"""ActorPack jurisdictions checked against the assigned ISO 3166-1 alpha-2 codes.

`parse_actorpack` accepts any two capital letters; this check refuses the ones no country
has (`UK`, `EU`, `XX`), naming the line of each, so an actor's country is one that
incident records, reports and filters can match. The code list is
`chainsleuth.countries` (a dependency-free leaf module any layer may use).
"""

from __future__ import annotations

import yaml

from chainsleuth.analytics.attribution.actors import ActorPack
from chainsleuth.analytics.attribution.marked import Problems, compose, line_of
from chainsleuth.countries import ISO_3166_ALPHA2


def check_jurisdictions(pack: ActorPack, text: str, file: str) -> None:
    """ParseError listing every jurisdiction of `pack` that is not an assigned ISO 3166-1
    alpha-2 code, with its line in `text`; nothing when all are assigned."""
    unknown = {
        code for actor in pack.actors for code in actor.jurisdictions if code not in ISO_3166_ALPHA2
    }
    if not unknown:
        return
    problems = Problems(file)
    for actor_id, code, line in _jurisdiction_lines(compose(text, file)):
        if code in unknown:
            problems.add(
                line,
                f"actor {actor_id}: jurisdiction {code!r} is not an ISO 3166-1 alpha-2"
                " country code",
            )
    if not problems.errors:  # not found in the node tree: still refuse, without a line
        for code in sorted(unknown):
            problems.add(0, f"jurisdiction {code!r} is not an ISO 3166-1 alpha-2 country code")
    problems.raise_if_any()


def _jurisdiction_lines(root: yaml.Node) -> list[tuple[str, str, int]]:
    """(actor id, code, line) of every jurisdiction written in an ActorPack node tree."""
    found: list[tuple[str, str, int]] = []
    if not isinstance(root, yaml.MappingNode):
        return found
    actors = next((v for k, v in root.value if k.value == "actors"), None)
    if not isinstance(actors, yaml.SequenceNode):
        return found
    for item in actors.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        fields = {str(k.value): v for k, v in item.value}
        ident = fields.get("id")
        actor_id = str(ident.value) if isinstance(ident, yaml.ScalarNode) else "?"
        node = fields.get("jurisdictions")
        codes = node.value if isinstance(node, yaml.SequenceNode) else [node] if node else []
        for code in codes:
            if isinstance(code, yaml.ScalarNode):
                found.append((actor_id, str(code.value).strip(), line_of(code)))
    return found
