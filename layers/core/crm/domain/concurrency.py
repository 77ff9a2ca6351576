"""Optimistic concurrency: a record's version is its ETag; If-Match names the version a
client last read, and a write against any other version is refused (no lost updates)."""

from __future__ import annotations

from dataclasses import dataclass

from crm.domain.errors import PreconditionFailed


def etag_for(version: int) -> str:
    """The strong ETag of a record at `version` (the quotes are part of the tag)."""
    return f'"{version}"'


@dataclass(frozen=True)
class Precondition:
    """What an If-Match header asked for: one of `etags`, or any current version (`*`)."""

    etags: frozenset[str] = frozenset()
    any_version: bool = False

    @classmethod
    def from_header(cls, value: str) -> Precondition:
        """Parse an If-Match value: `*` or a comma-separated list of entity tags.

        Comparison is strong (RFC 9110 13.1.1): a weak tag (W/"3") never matches, and a
        malformed value matches nothing, so both end in 412 rather than a silent overwrite.
        """
        tags = frozenset(part.strip() for part in value.split(",") if part.strip())
        return cls(etags=tags - {"*"}, any_version="*" in tags)

    def check(self, version: int, resource: str) -> None:
        if self.any_version or etag_for(version) in self.etags:
            return
        raise PreconditionFailed(
            f"{resource} changed since it was read (If-Match does not name its current version);"
            " read it again and retry"
        )
