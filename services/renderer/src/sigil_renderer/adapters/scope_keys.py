"""ValuelessScopeKeys: which keys exist in a deployment scope, values dropped at the boundary."""

from sigil_renderer.ports import SecretsSource


class ValuelessScopeKeys:
    """Key names from the values source; the values never leave this adapter.

    The secrets service has no key-only query for a deployment scope (vendor-level merged
    with one customer's), so the one source is the resolve call: its values are dropped here,
    before validation (which must be value-blind) sees anything.
    """

    def __init__(self, source: SecretsSource) -> None:
        self._source = source

    async def keys(self, org: str, customer: str | None, names: set[str] | None) -> frozenset[str]:
        """Keys of the scope (only among ``names`` when given)."""
        if names is not None and not names:
            return frozenset()
        resolved = await self._source.resolve(org, customer, keys=names)
        return frozenset(resolved)
