"""Container image references: `[registry[:port]/]path[:tag][@digest]` as the distribution
spec writes them (docker/distribution reference grammar), checked before any engine sees one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ValidationError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
                        rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
FIX = "write it as [registry[:port]/]name[:tag], lower-case, e.g. 192.168.0.153:5000/jhinno/pytorch:2.1.0"


@dataclass(frozen=True)
class Reference:
    registry: str | None
    path: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.path}" if self.registry else self.path
        if self.tag:
            text += f":{self.tag}"
        return text + (f"@{self.digest}" if self.digest else "")

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}" if self.registry else self.path

    def with_registry(self, registry: str) -> "Reference":
        return Reference(registry, self.path, self.tag, self.digest)

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.registry, self.path, tag, None)


def parse_reference(text: str, field: str = "image") -> Reference:
    if not text or len(text) > 255 or text != text.strip():
        raise ValidationError(f"'{text}' is not an image reference", field=field, fix=FIX)
    m = _REFERENCE.match(text)
    if m is None:
        raise ValidationError(f"'{text}' is not an image reference", field=field, fix=FIX)
    domain, path = m.group("domain"), m.group("path")
    # `jhinno/pytorch`: the first part is a registry only when it looks like a host name
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        path, domain = f"{domain}/{path}", None
        if not re.fullmatch(_COMPONENT, path.split("/")[0]):
            raise ValidationError(f"'{text}' is not an image reference", field=field, fix=FIX)
    return Reference(domain, path, m.group("tag"), m.group("digest"))


def check_reference(text: str, field: str = "image") -> None:
    """Accept engine references and Apptainer image files (an absolute path, docker:// URIs)."""
    if text.startswith("/"):
        return
    parse_reference(text.removeprefix("docker://").removeprefix("oci://"), field)


def qualify(text: str, registry: str | None, field: str = "image") -> Reference:
    """A reference as the engine should pull/push it: a bare `jhinno/pytorch:2.1.0` goes to the
    site's configured registry ([images] registry), a tag defaults to `latest` (F242)."""
    ref = parse_reference(text, field)
    if ref.registry is None and registry:
        ref = ref.with_registry(registry)
    if ref.tag is None and ref.digest is None:
        ref = ref.with_tag("latest")
    return ref
