"""Which secret keys a template refers to, found in its parse tree (not by regex)."""

from collections.abc import Iterator, Mapping

from sigil_renderer.template import nodes as n
from sigil_renderer.template.parser import Tree


def _walk(node: n.Node | None) -> Iterator[n.Node]:
    if node is None:
        return
    yield node
    children: list[n.Node | None] = []
    if isinstance(node, n.ListNode):
        children = list(node.nodes)
    elif isinstance(node, n.ActionNode):
        children = [node.pipe]
    elif isinstance(node, n.BranchNode):
        children = [node.pipe, node.list, node.else_list]
    elif isinstance(node, n.TemplateNode):
        children = [node.pipe]
    elif isinstance(node, n.PipeNode):
        children = list(node.cmds)
    elif isinstance(node, n.CommandNode):
        children = list(node.args)
    elif isinstance(node, n.ChainNode):
        children = [node.node]
    for child in children:
        yield from _walk(child)


def _is_secrets(node: n.Node) -> bool:
    if isinstance(node, n.FieldNode):
        return node.ident == ["Secrets"]
    return isinstance(node, n.VariableNode) and node.ident == ["$", "Secrets"]


def referenced_keys(trees: Mapping[str, Tree]) -> set[str]:
    """Keys named as ``.Secrets.KEY``, ``$.Secrets.KEY`` or ``index .Secrets "KEY"``."""
    keys: set[str] = set()
    for tree in trees.values():
        for node in _walk(tree.root):
            if (
                isinstance(node, n.FieldNode)
                and len(node.ident) >= 2
                and node.ident[0] == "Secrets"
            ):
                keys.add(node.ident[1])
            elif (
                isinstance(node, n.VariableNode)
                and len(node.ident) >= 3
                and node.ident[:2] == ["$", "Secrets"]
            ):
                keys.add(node.ident[2])
            elif isinstance(node, n.CommandNode):
                args = node.args
                for i, arg in enumerate(args[:-2]):
                    if (
                        isinstance(arg, n.IdentifierNode)
                        and arg.ident == "index"
                        and _is_secrets(args[i + 1])
                        and isinstance(args[i + 2], n.StringNode)
                    ):
                        keys.add(args[i + 2].text)  # type: ignore[attr-defined]
    return keys
