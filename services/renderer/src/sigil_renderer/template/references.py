"""Which secret keys a template refers to, found in its parse tree (not by regex)."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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
        keys |= keys_in(tree.root)
    return keys


def keys_in(root: n.Node | None) -> set[str]:
    """Keys named within ``root`` (a tree's root, or one action's pipeline)."""
    keys: set[str] = set()
    for node in _walk(root):
        if isinstance(node, n.FieldNode) and len(node.ident) >= 2 and node.ident[0] == "Secrets":
            keys.add(node.ident[1])
        elif (
            isinstance(node, n.VariableNode)
            and len(node.ident) >= 3
            and node.ident[:2] == ["$", "Secrets"]
        ):
            keys.add(node.ident[2])
        elif isinstance(node, n.CommandNode):
            keys.update(literal.text for literal in _indexed_keys(node.args))
    return keys


@dataclass(frozen=True)
class ReferenceSite:
    """Where a template names a secret, and whether a missing key is allowed there.

    ``optional``: the whole condition of an ``if``/``with``/``else if``/``else with``
    (Sigil's documented optional-secret form), or inside the branch that runs only when
    that same key exists. ``errs``: Go fails on a missing key here (``index`` yields "" instead).
    """

    key: str
    tree: str
    node: n.Node
    optional: bool
    errs: bool


def _direct_key(node: n.Node) -> str | None:
    """K for ``.Secrets.K`` / ``$.Secrets.K`` used as a whole operand (nothing after K)."""
    if isinstance(node, n.FieldNode) and len(node.ident) == 2 and node.ident[0] == "Secrets":
        return node.ident[1]
    if (
        isinstance(node, n.VariableNode)
        and len(node.ident) == 3
        and node.ident[:2] == ["$", "Secrets"]
    ):
        return node.ident[2]
    return None


def _condition_key(branch: n.BranchNode) -> str | None:
    """The key whose absence makes this if/with false rather than an error (see executor)."""
    if isinstance(branch, n.RangeNode):
        return None
    pipe = branch.pipe
    if pipe.decl or len(pipe.cmds) != 1 or len(pipe.cmds[0].args) != 1:
        return None
    return _direct_key(pipe.cmds[0].args[0])


def _sites(
    node: n.Node | None, tree: str, guarded: frozenset[str], out: list[ReferenceSite]
) -> None:
    if node is None:
        return
    if isinstance(node, n.BranchNode):
        key = _condition_key(node)
        if key is not None:
            out.append(ReferenceSite(key, tree, node.pipe.cmds[0].args[0], True, errs=True))
            _sites(node.list, tree, guarded | {key}, out)  # runs only when the key exists
        else:
            _sites(node.pipe, tree, guarded, out)
            _sites(node.list, tree, guarded, out)
        _sites(node.else_list, tree, guarded, out)
        return
    if isinstance(node, n.FieldNode) and len(node.ident) >= 2 and node.ident[0] == "Secrets":
        key = node.ident[1]
        out.append(ReferenceSite(key, tree, node, key in guarded, errs=True))
        return
    if (
        isinstance(node, n.VariableNode)
        and len(node.ident) >= 3
        and node.ident[:2] == ["$", "Secrets"]
    ):
        key = node.ident[2]
        out.append(ReferenceSite(key, tree, node, key in guarded, errs=True))
        return
    children: list[n.Node | None] = []
    if isinstance(node, n.ListNode):
        children = list(node.nodes)
    elif isinstance(node, n.ActionNode | n.TemplateNode):
        children = [node.pipe]
    elif isinstance(node, n.PipeNode):
        children = list(node.cmds)
    elif isinstance(node, n.CommandNode):
        for literal in _indexed_keys(node.args):
            key = literal.text
            out.append(ReferenceSite(key, tree, literal, key in guarded, errs=False))
        children = list(node.args)
    elif isinstance(node, n.ChainNode):
        children = [node.node]
    for child in children:
        _sites(child, tree, guarded, out)


def reference_sites(trees: Mapping[str, Tree]) -> list[ReferenceSite]:
    """Every place any tree names a secret, across every branch, in text order."""
    out: list[ReferenceSite] = []
    for name, tree in trees.items():
        _sites(tree.root, name, frozenset(), out)
    out.sort(key=lambda site: site.node.pos)
    return out


def names_secrets_dynamically(trees: Mapping[str, Tree]) -> bool:
    """True when some use of ``.Secrets`` does not name its key in the text (``range``,
    ``with``, ``template "x" .Secrets``, ``index .Secrets $k``, printing the map)."""
    for tree in trees.values():
        for node in _walk(tree.root):
            if isinstance(node, n.CommandNode):
                args = node.args
                for i, arg in enumerate(args):
                    if not _is_secrets(arg):
                        continue
                    static_index = (
                        i >= 1
                        and isinstance(args[i - 1], n.IdentifierNode)
                        and args[i - 1].ident == "index"  # type: ignore[attr-defined]
                        and i + 1 < len(args)
                        and isinstance(args[i + 1], n.StringNode)
                    )
                    if not static_index:
                        return True
            elif isinstance(node, n.ChainNode) and _is_secrets(node.node):
                return True
    return False


def _indexed_keys(args: list[n.Node]) -> Iterator[n.StringNode]:
    """The key literals of ``index .Secrets "KEY"`` among a command's arguments."""
    for i, arg in enumerate(args[:-2]):
        literal = args[i + 2]
        if (
            isinstance(arg, n.IdentifierNode)
            and arg.ident == "index"
            and _is_secrets(args[i + 1])
            and isinstance(literal, n.StringNode)
        ):
            yield literal
