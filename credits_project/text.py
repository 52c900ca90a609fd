"""Text PostgreSQL cannot hold: a NUL character (not in `text`, not in `jsonb`) or a lone UTF-16
surrogate (not Unicode at all, so not UTF-8). Found here once, for every door input comes in by:
the API's JSON bodies, query strings and paths, imported pricing documents."""
import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def unstorable_text_path(value) -> str | None:
    """The JSON path (`$.content.volumes[0].name`) of the first key or string in `value` that
    PostgreSQL cannot store, or None. Iterative: a recursive walk would itself be attackable."""
    stack = [(value, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if is_unstorable(node):
                return path
        elif isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and is_unstorable(key):
                    return f"{path} (a key)"
                stack.append((child, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(node))
    return None
