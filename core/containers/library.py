"""Image management (镜像管理): one catalog of built-in, shared and My images.

Built-in images are etc/images.toml's (environments and container images alike); a user's
pulled, built and saved container images are rows of `container_images`, private to their
owner until shared. Everything that picks an image (the job form, `--image`, services) sees the
same list through `images_for(user)`; forms filter it by tag and keyword with counts (F13, F99).

Pull and push go through podman against a registry: a bare reference (`jhinno/pytorch:2.1.0`)
goes to the site's registry ([images] registry), and registry hosts the product wrote into its
references (`192.168.0.153:5000/...`) map onto the site's through [images.registry_aliases].
Building is a scheduler job (the user's, through the job service): `podman build` of the
user's Containerfile, its log the job's; a running job's or service's container can be saved as
a new image (`podman commit`, F242).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from core.api import Image
from core.containers import engine
from core.containers.reference import Reference, parse_reference, qualify
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.store import ContainerImageRow, Store

SCOPES = ("all", "mine", "shared", "builtin")
NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,200}(:[\w][\w.-]{0,127})?$")
PULL_TIMEOUT = 1800
CONTAINERFILE_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
                              "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
                              "HEALTHCHECK", "SHELL"}


@dataclass
class Listed:
    """One row of an image list: a catalog Image and where it comes from."""

    image: Image
    scope: str  # builtin | mine | shared
    owner: str | None = None
    state: str = "ready"
    source: str = "catalog"
    job_uuid: str | None = None  # the build job
    shared: bool = False

    def as_dict(self) -> dict[str, Any]:
        i = self.image
        return {"name": i.name, "reference": i.reference, "runtime": i.runtime, "tags": i.tags,
                "frameworks": i.frameworks, "description": i.description, "aliases": i.aliases,
                "scope": self.scope, "owner": self.owner, "state": self.state, "source": self.source,
                "job_uuid": self.job_uuid, "shared": self.shared}


@dataclass
class ImageList:
    images: list[Listed]
    total: int  # before the tag and keyword filters
    tag_counts: dict[str, int] = field(default_factory=dict)  # over the keyword-filtered list


@dataclass
class RegistrySettings:
    registry: str | None = None  # where bare references go
    aliases: dict[str, str] = field(default_factory=dict)  # product registry host -> site's
    insecure: list[str] = field(default_factory=list)  # plain-HTTP registries (tls-verify off)

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> "RegistrySettings":
        section = raw.get("images", {})
        return cls(section.get("registry"), dict(section.get("registry_aliases", {})),
                   list(section.get("insecure_registries", [])))


def check_containerfile(text: str, field: str = "containerfile") -> None:
    """Refuse what `podman build` would refuse at its first line, before any job is made."""
    instructions = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if instructions and instructions[-1][2].endswith("\\"):
            instructions[-1] = (instructions[-1][0], instructions[-1][1], stripped)
            continue
        word = stripped.split()[0].upper()
        instructions.append((n, word, stripped))
    if not instructions:
        raise ValidationError("the Containerfile is empty", field=field, fix="start it with FROM <image>")
    for n, word, _ in instructions:
        if word not in CONTAINERFILE_INSTRUCTIONS:
            raise ValidationError(f"line {n}: unknown instruction {word}", field=field,
                                  fix="use FROM, RUN, COPY, ENV, ... (see `man Containerfile`)")
    first = next(w for _, w, _ in instructions if w != "ARG")
    if first != "FROM":
        raise ValidationError(f"the first instruction is {first}, not FROM", field=field,
                              fix="start the Containerfile with FROM <image>")


class ImageLibrary:
    def __init__(self, store: Store, builtin: Callable[[], list[Image]], settings: RegistrySettings,
                 submit_build: Callable[[str, str, str, str, str | None, str], str] | None = None,
                 job_state: Callable[[str], str | None] | None = None,
                 job_dir_of: Callable[[str, str], str] | None = None):
        """`submit_build(user, name, script, workdir, resource_spec, source) -> job uuid` submits a build job;
        `job_state(uuid)` answers its normalised state, `job_dir_of(user, job)` the directory of
        one of the user's jobs (all three from the job service)."""
        self.store = store
        self.builtin = builtin
        self.settings = settings
        self.submit_build = submit_build
        self.job_state = job_state
        self.job_dir_of = job_dir_of

    # --- the one list ------------------------------------------------------------------------

    def _rows(self, user: str | None) -> list[ContainerImageRow]:
        with self.store.session() as s:
            q = select(ContainerImageRow).order_by(ContainerImageRow.created_at)
            if user is not None:
                q = q.where(or_(ContainerImageRow.owner == user, ContainerImageRow.visibility == "shared"))
            else:
                q = q.where(ContainerImageRow.visibility == "shared")
            rows = list(s.scalars(q))
            s.expunge_all()
        return rows

    @staticmethod
    def _image(row: ContainerImageRow) -> Image:
        return Image(name=row.name, runtime=row.runtime, reference=row.reference, tags=list(row.tags or []),
                     frameworks=list(row.frameworks or []), description=row.description or "")

    def listed(self, user: str | None) -> list[Listed]:
        self._settle_builds(user)
        out = [Listed(i, "builtin", state="-") for i in self.builtin()]
        for row in self._rows(user):
            out.append(Listed(self._image(row), "mine" if row.owner == user else "shared", row.owner,
                              row.state, row.source, row.job_uuid, row.visibility == "shared"))
        return out

    def images_for(self, user: str | None) -> list[Image]:
        """What a job or service of `user` may run: ready My and shared images."""
        return [self._image(r) for r in self._rows(user) if r.state == "ready"]

    def search(self, user: str | None, scope: str = "all", tag: str | None = None,
               keyword: str | None = None) -> ImageList:
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope '{scope}'", field="scope", fix=f"choose one of: {', '.join(SCOPES)}")
        items = [x for x in self.listed(user) if scope == "all" or x.scope == scope]
        total = len(items)
        if keyword:
            k = keyword.lower()
            items = [x for x in items if k in x.image.name.lower() or k in x.image.description.lower()
                     or k in x.image.reference.lower() or any(k in t.lower() for t in x.image.tags)]
        counts = Counter(t for x in items for t in x.image.tags)
        if tag:
            items = [x for x in items if tag.lower() in (t.lower() for t in x.image.tags)]
        return ImageList(items, total, dict(sorted(counts.items())))

    # --- references --------------------------------------------------------------------------

    def engine_reference(self, text: str, field: str = "reference") -> Reference:
        """A reference as podman should pull/push it (site registry, registry aliases, :latest)."""
        ref = qualify(text, self.settings.registry, field)
        if ref.registry in self.settings.aliases:
            ref = ref.with_registry(self.settings.aliases[ref.registry])
        return ref

    def _tls(self, ref: Reference) -> list[str]:
        insecure = ref.registry in self.settings.insecure or (ref.registry or "").startswith(("127.", "localhost"))
        return ["--tls-verify=false"] if insecure else []

    def _own(self, user: str, name: str) -> ContainerImageRow:
        with self.store.session() as s:
            row = s.scalars(select(ContainerImageRow).where(ContainerImageRow.owner == user,
                                                            ContainerImageRow.name == name)).first()
            if row is None:
                if s.scalars(select(ContainerImageRow).where(ContainerImageRow.name == name)).first():
                    raise PermissionDenied(f"image '{name}' is not yours", field="image",
                                           fix="act on your own images (`hpcai images list --scope mine`)")
                raise NotFound(f"no image '{name}' in My images", field="image",
                               fix="see `hpcai images list --scope mine`")
            s.expunge(row)
            return row

    def _check_new_name(self, user: str, name: str) -> None:
        if not NAME.match(name):
            raise ValidationError(f"'{name}' is not an image name", field="name",
                                  fix="use lower-case namespace/name[:tag], e.g. u1/pytorch-mine:v1")
        if any(i.name == name for i in self.builtin()):
            raise Conflict(f"'{name}' is a built-in image", field="name", fix="choose another name")
        with self.store.session() as s:
            if s.scalars(select(ContainerImageRow).where(ContainerImageRow.owner == user,
                                                         ContainerImageRow.name == name)).first():
                raise Conflict(f"you already have an image '{name}'", field="name",
                               fix="choose another name or tag, or remove the old one (`hpcai images rm`)")

    def _add(self, user: str, name: str, reference: str, source: str, tags: list[str] | None = None,
             frameworks: list[str] | None = None, description: str = "", state: str = "ready",
             job_uuid: str | None = None) -> Listed:
        row = ContainerImageRow(owner=user, name=name, reference=reference, runtime="podman", tags=tags or [],
                                frameworks=frameworks or [], visibility="private", source=source,
                                description=description, state=state, job_uuid=job_uuid)
        with self.store.session() as s:
            s.add(row)
            s.flush()
            s.expunge(row)
        return Listed(self._image(row), "mine", user, state, source, job_uuid)

    # --- operations --------------------------------------------------------------------------

    def pull(self, user: str, reference: str, name: str | None = None, tags: list[str] | None = None,
             frameworks: list[str] | None = None) -> Listed:
        ref = self.engine_reference(reference)
        name = name or str(parse_reference(reference, "reference"))
        self._check_new_name(user, name)
        podman = engine.require("podman")
        engine.run([podman, "pull", "-q", *self._tls(ref), str(ref)], PULL_TIMEOUT, what=f"pull of {ref}")
        return self._add(user, name, str(ref), "pull", tags, frameworks, f"pulled from {ref.registry or 'a registry'}")

    def push(self, user: str, name: str, target: str | None = None) -> str:
        image = self.resolve_visible(user, name)
        dest = self.engine_reference(target or name, "target")
        if dest.registry is None:
            raise ValidationError("no registry to push to", field="target",
                                  fix="give registry/name:tag or set [images] registry in etc/hpcai.toml")
        podman = engine.require("podman")
        engine.run([podman, "push", "-q", *self._tls(dest), image.reference, str(dest)], PULL_TIMEOUT,
                   what=f"push to {dest}")
        return str(dest)

    def tag(self, user: str, name: str, target: str | None = None, add: list[str] | None = None,
            remove: list[str] | None = None) -> Listed:
        """`target`: a new name (and engine tag) for the same image; add/remove: its filter tags."""
        if target:
            image = self.resolve_visible(user, name)
            self._check_new_name(user, target)
            ref = f"localhost/{target}" if ":" in target else f"localhost/{target}:latest"
            engine.run([engine.require("podman"), "tag", image.reference, ref], what="tag")
            return self._add(user, target, ref, "tag", list(image.tags), list(image.frameworks), image.description)
        row = self._own(user, name)
        tags = [t for t in row.tags if t not in (remove or [])] + [t for t in (add or []) if t not in row.tags]
        with self.store.session() as s:
            live = s.get(ContainerImageRow, row.id)
            assert live is not None
            live.tags = tags
            s.flush()
            s.expunge(live)
            return Listed(self._image(live), "mine", user, live.state, live.source)

    def share(self, user: str, name: str, shared: bool = True) -> None:
        row = self._own(user, name)
        with self.store.session() as s:
            live = s.get(ContainerImageRow, row.id)
            assert live is not None
            live.visibility = "shared" if shared else "private"

    def remove(self, user: str, name: str) -> None:
        row = self._own(user, name)
        with self.store.session() as s:
            others = s.scalars(select(ContainerImageRow).where(ContainerImageRow.reference == row.reference,
                                                               ContainerImageRow.id != row.id)).first()
            live = s.get(ContainerImageRow, row.id)
            if live is not None:
                s.delete(live)
        if others is None and row.state == "ready":
            podman = engine.require("podman")
            if engine.image_exists(podman, row.reference):
                engine.run([podman, "rmi", row.reference], what="rmi")

    def resolve_visible(self, user: str, name: str) -> Image:
        for x in self.listed(user):
            if x.image.name == name or x.image.reference == name:
                if x.state not in ("ready", "-"):
                    raise Conflict(f"image '{name}' is {x.state}", field="image", fix="wait for its build")
                return x.image
        raise NotFound(f"no image '{name}'", field="image", fix="see `hpcai images list`")

    # --- build and save ----------------------------------------------------------------------

    def build(self, user: str, name: str, containerfile: str, context: str | None = None,
              tags: list[str] | None = None, frameworks: list[str] | None = None,
              resource_spec: str | None = None, source: str = "image-build") -> Listed:
        """Submit `podman build` as the user's scheduler job (`source` as JobRequest.source: the
        CLI says "cli", so its caller's own identity runs it); the image is `building` until the
        job ends (then `ready`, or `failed` with the reason in the job's log)."""
        if self.submit_build is None:
            raise ValidationError("image builds need the job service", field="containerfile")
        path = Path(containerfile).expanduser()
        if not path.is_file():
            raise ValidationError(f"{containerfile} does not exist", field="containerfile",
                                  fix="give the path of a Containerfile or Dockerfile")
        check_containerfile(path.read_text(errors="replace"))
        ctx_dir = Path(context).expanduser() if context else path.parent
        if not ctx_dir.is_dir():
            raise ValidationError(f"build context {ctx_dir} is not a directory", field="context",
                                  fix="give the directory the Containerfile's COPY lines read from")
        self._check_new_name(user, name)
        ref = f"localhost/{name}" if ":" in name else f"localhost/{name}:latest"
        script = build_script(ref, str(path.resolve()), str(ctx_dir.resolve()))
        job_uuid = self.submit_build(user, f"build-{name.replace('/', '-').replace(':', '-')}", script,
                                     str(ctx_dir.resolve()), resource_spec, source)
        return self._add(user, name, ref, "build", tags, frameworks, f"built from {path}", "building", job_uuid)

    def _settle_builds(self, user: str | None) -> None:
        if self.job_state is None:
            return
        with self.store.session() as s:
            q = select(ContainerImageRow).where(ContainerImageRow.state == "building")
            for row in s.scalars(q):
                state = self.job_state(row.job_uuid) if row.job_uuid else "failed"
                if state == "succeeded":
                    row.state = "ready"
                elif state in ("failed", "cancelled"):
                    row.state = "failed"

    def commit(self, user: str, container: str, name: str) -> Listed:
        """Save a running container (a job rank's or a service's) as a new My image (F242)."""
        self._check_new_name(user, name)
        ref = f"localhost/{name}" if ":" in name else f"localhost/{name}:latest"
        engine.run([engine.require("podman"), "commit", "-q", container, ref], PULL_TIMEOUT, what="commit")
        return self._add(user, name, ref, "commit", description=f"saved from container {container}")


    def save_job(self, user: str, job: str, name: str, rank: int = 0) -> Listed:
        """Save the container of a running job's rank (or of a service) as a new My image."""
        if self.job_dir_of is None:
            raise ValidationError("saving a job's container needs the job service", field="job")
        prefix = f"hpcai-{Path(self.job_dir_of(user, job)).name[:12]}-"
        podman = engine.require("podman")
        names = engine.run([podman, "ps", "--filter", f"name=^{prefix}", "--format", "{{.Names}}"],
                           what="podman ps").stdout.split()
        wanted = [n for n in names if n == f"{prefix}{rank}"] or [n for n in names if n.startswith(f"{prefix}svc")]
        if not wanted:
            raise Conflict(f"job {job} has no running container" + (f" for rank {rank}" if names else ""),
                           field="job", fix="save an image while the job (or service) runs in a container")
        return self.commit(user, wanted[0], name)


def build_script(reference: str, containerfile: str, context: str) -> str:
    """The build job's body (pure; golden-tested): podman's output is the job's log."""
    import shlex

    from core.containers.engine import REPO_CONTAINERS_CONF

    return ("#!/bin/bash\nset -euo pipefail\n"
            f'export CONTAINERS_CONF="${{CONTAINERS_CONF:-{REPO_CONTAINERS_CONF}}}"\n'
            f"exec podman build --network host --layers -t {shlex.quote(reference)} "
            f"-f {shlex.quote(containerfile)} {shlex.quote(context)}\n")
