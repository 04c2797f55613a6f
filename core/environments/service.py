"""Development environments: create / modify / start / stop / restart / delete (F12-F21).

Every rule is here, whatever shell asks. An environment owns one service of origin devenv
(core.services): its job, ports, per-instance secret, proxy and status (the watcher's job
state plus the job side's service.json, F20) are the services machinery's. Modify is kept as
`pending` and applied at the next start or restart (F21). A refused start removes what create
made, so a failed create leaves nothing behind.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from sqlalchemy import select

from core import schema as schemas
from core.api import EnvironmentType
from core.environments import ssh as ssh_module
from core.environments.models import EnvironmentRow
from core.errors import HpcaiError, NotFound, ValidationError, ValidationErrors
from core.store import id_in_range

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_DESCRIPTION = 512
MAX_PORTS = 8
#: fields Modify may change (name and type are fixed at creation)
MODIFIABLE = ("image", "resource_spec", "shm_mb", "ports", "mounts", "ssh", "workdir", "description")
#: the image tag a Web-terminal image needs before SSH may be switched on (F22): ssh.py's
SSH_TAG = ssh_module.SSH_TAG
ORIGIN = "devenv"


class Plugins(Protocol):
    def names(self, kind: str) -> list[str]: ...

    def get(self, kind: str, name: str | None, field: str | None = None) -> Any: ...


class Services(Protocol):
    """The part of core.services.ServiceManager an environment uses."""

    def create(self, values: dict[str, Any], user: str, start: bool = True, origin: str = ...) -> Any: ...

    def relaunch(self, ref: str | int, origin: str, values: dict[str, Any] | None = None) -> Any: ...

    def stop(self, ref: str | int, user: str) -> Any: ...

    def delete(self, ref: str | int, user: str) -> None: ...

    def view(self, row: Any, external_base: str = "") -> Any: ...

    def get(self, ref: str | int, user: str) -> Any: ...

    def lifecycle_actions(self, row: Any, state: str | None = None) -> list[str]: ...

    def job(self, row: Any) -> Any: ...

    def secret(self, job: Any) -> str: ...


class Tokens(Protocol):
    """The part of core.accounts.AccountService an environment's session token uses."""

    def create_token(self, name: str, label: str = "") -> str: ...

    def revoke_tokens_labelled(self, name: str, label: str) -> int: ...


class Images(Protocol):
    def tagged(self, tag: str | None) -> list[Any]: ...

    def find(self, reference: str, user: str | None = None) -> Any: ...


def now() -> datetime:
    return datetime.now(timezone.utc)


class SecretBox(Protocol):
    """Seals what the store keeps of a password (core.datasets.SecretBox: the site's key)."""

    def seal(self, secrets: dict[str, str]) -> str | None: ...

    def open(self, token: str | None) -> dict[str, str]: ...


@dataclass
class EnvironmentView:
    id: int
    name: str
    type: str
    type_title: str
    open_title: str
    user: str
    state: str  # the service's: stopped | queued | starting | running | failed | unknown
    values: dict[str, Any]
    pending: dict[str, Any] | None
    description: str
    alias: str | None
    url: str | None  # the proxy path, only when running ("Connect", F20)
    can_connect: bool
    actions: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)  # the environment log (F19)
    ports: dict[str, int] = field(default_factory=dict)  # custom port -> host port (F16)
    reason: str | None = None
    # while running with SSH on (spec 01 §5, F23/F24): login, password, host, port, the `ssh`
    # command and the Xshell form; only the owner reaches a view
    ssh: dict[str, str] | None = None
    # "open in client" while running (the type's client_connection: a Desktop's VNC host:port
    # and password, F34); only the owner reaches a view
    client: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EnvironmentService:
    def __init__(self, store: Any, services: Services, images: Images, plugins: Callable[[], Plugins],
                 home: Callable[[str], Path], specs: Callable[[str], list[str]], box: SecretBox,
                 spec_of: Callable[[str, str], Any] | None = None, tokens: Tokens | None = None,
                 portal_url: Callable[[], str] | None = None):
        self.store, self.services, self.images = store, services, images
        self._plugins, self.home, self.specs, self.box = plugins, home, specs, box
        self.spec_of = spec_of  # (user, spec name) -> ResourceSpec, for a type's check_spec
        # jsub/jjobs/hpcai in the environment's terminals call the portal's API (cli/remote.py)
        # with a token of the environment's user, made at each start, revoked at stop/delete
        self.tokens, self.portal_url = tokens, portal_url

    # --- types and schema ---------------------------------------------------------------------

    def types(self) -> dict[str, EnvironmentType]:
        reg = self._plugins()
        found = {n: reg.get("environment", n) for n in reg.names("environment")}
        return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))

    def type(self, name: str | None) -> EnvironmentType:
        if not name:
            raise ValidationError("is required", field="type", fix="choose one of: " + ", ".join(self.types()))
        t: EnvironmentType = self._plugins().get("environment", name, "type")
        return t

    def image_choices(self, type_name: str, user: str | None = None) -> list[str]:
        """F13: the catalog images carrying the type's tag (the Web terminal: every image)."""
        return [i.name for i in self.images.tagged(self.type(type_name).image_tag or None)]

    def suggest_name(self, user: str, type_name: str) -> str:
        """F12: an unused name, pre-filled in the create form."""
        taken = {r.name for r in self._rows(user)}
        n = 1
        while f"{type_name}-{n}" in taken:
            n += 1
        return f"{type_name}-{n}"

    def form_schema(self, user: str, type_name: str | None = None) -> dict[str, Any]:
        """The create form (portal page, CLI flags, API validation): one schema."""
        types = self.types()
        props: dict[str, Any] = {
            "name": {"type": "string", "title": "Environment name", "x-order": 1, "pattern": NAME.pattern},
            "type": {"type": "string", "title": "Environment type", "enum": list(types), "x-order": 2,
                     "x-enum-labels": {n: t.title for n, t in types.items()}},
            "image": {"type": "string", "title": "Image", "x-order": 3},
            "resource_spec": {"type": "string", "title": "Resource specification", "x-order": 4,
                              "enum": self.specs(user)},
            "shm_mb": {"type": "integer", "title": "Shared memory (MB)", "minimum": 0, "x-order": 5},
            # text in the form (comma-separated); the API also takes a list
            "ports": {"type": "string", "title": "Custom ports", "x-order": 6,
                      "description": "ports your programs listen on, e.g. 8080,6006; each gets a host port"},
            "mounts": {"type": "string", "title": "Mount directories", "x-order": 7,
                       "description": "source[:target[:ro]], comma-separated; your home and working "
                                      "directory are always mounted"},
            "workdir": {"type": "string", "title": "Working directory", "x-order": 8},
            "ssh": {"type": "boolean", "title": "SSH connection", "default": False, "x-order": 9},
            "description": {"type": "string", "title": "Description", "x-widget": "textarea",
                            "maxLength": MAX_DESCRIPTION, "x-order": 90},
        }
        if type_name:
            props["name"]["default"] = self.suggest_name(user, type_name)
            props["image"]["enum"] = self.image_choices(type_name, user)
            props.update(self._type_options(self.type(type_name)))  # the type's own (Desktop: gpu_mode)
        return {"type": "object", "required": ["name", "type", "resource_spec"], "properties": props}

    @staticmethod
    def _type_options(st: EnvironmentType) -> dict[str, Any]:
        return dict(st.option_schema().get("properties", {}))

    # --- rows -------------------------------------------------------------------------------------

    def _rows(self, user: str) -> list[EnvironmentRow]:
        with self.store.session() as s:
            return list(s.scalars(select(EnvironmentRow).where(EnvironmentRow.user == user)
                                  .order_by(EnvironmentRow.id.desc())))

    def get(self, ref: str | int, user: str) -> EnvironmentRow:
        """The user's own environment by id or name; anyone else's is 'not found'."""
        text = str(ref).strip()
        with self.store.session() as s:
            row = s.get(EnvironmentRow, int(text)) if text.isdigit() and id_in_range(int(text)) else None
            if row is None:
                row = s.scalars(select(EnvironmentRow).where(EnvironmentRow.user == user,
                                                             EnvironmentRow.name == text)).first()
        if row is None or row.user != user:
            raise NotFound(f"no environment '{ref}'", field="environment",
                           fix="see `hpcai envs list` for yours")
        return row

    def list(self, user: str) -> list[EnvironmentRow]:
        return self._rows(user)

    # --- validation -------------------------------------------------------------------------------

    def _check(self, values: dict[str, Any], user: str, st: EnvironmentType,
               name_of: int | None = None) -> dict[str, Any]:
        """Every field's error at once (each names the field and the fix); the clean values."""
        errors: list[HpcaiError] = []
        out: dict[str, Any] = {}

        def bad(fld: str, message: str, fix: str) -> None:
            errors.append(ValidationError(message, field=fld, fix=fix))

        name = str(values.get("name") or "").strip()
        if not NAME.match(name):
            bad("name", f"'{name}' is not a valid name" if name else "is required",
                f"letters, digits, . _ - (at most 64), starting with a letter or digit, e.g. "
                f"{self.suggest_name(user, st.name)}")
        elif name_of is None and any(r.name == name for r in self._rows(user)):
            bad("name", f"you already have an environment named '{name}'",
                f"choose another name, e.g. {self.suggest_name(user, st.name)}")
        out["name"] = name

        image = values.get("image") or None
        img = None
        if image:
            img = self.images.find(str(image), user)
            if img is None:
                bad("image", f"unknown image '{image}'", "choose one of: " + (", ".join(self.image_choices(st.name))
                                                                           or "none (leave it empty)"))
            elif st.image_tag and st.image_tag.lower() not in (t.lower() for t in img.tags):
                fits = self.image_choices(st.name)
                bad("image", f"image '{image}' has no '{st.image_tag}' tag, which {st.title} needs",
                    ("choose an image tagged " + st.image_tag + ": " + ", ".join(fits)) if fits else
                    "leave it empty (the node's own install) or ask the admin for an image with that tag")
        out["image"] = image

        spec = values.get("resource_spec")
        specs = self.specs(user)
        if not spec:
            bad("resource_spec", "is required", "choose one of: " + ", ".join(specs))
        elif spec not in specs:
            bad("resource_spec", f"unknown resource spec '{spec}'", "choose one of: " + ", ".join(specs))
        out["resource_spec"] = spec

        shm = values.get("shm_mb")
        if shm in (None, ""):
            shm = None
        elif isinstance(shm, bool) or not str(shm).isdigit():
            bad("shm_mb", f"'{shm}' is not a size in MB", "give a whole number of MB, e.g. 1024")
            shm = None
        out["shm_mb"] = int(shm) if shm is not None else None

        out["ports"] = self._ports(values.get("ports"), bad)
        out["mounts"] = self._mounts(values.get("mounts"), bad)

        workdir = str(values.get("workdir") or self.home(user))
        if not workdir.startswith("/"):
            bad("workdir", f"'{workdir}' is a relative path", "give an absolute directory, e.g. /home/you/project")
        out["workdir"] = workdir

        ssh = values.get("ssh")
        ssh = ssh if isinstance(ssh, bool) else str(ssh or "").lower() in ("1", "true", "on", "yes")
        # F22: a Web terminal's image must say it runs sshd; the node install (no image) has the
        # node's sshd, which sshd_missing checks like every other type's
        if ssh and not st.ssh_builtin and img is not None and SSH_TAG.lower() not in (t.lower() for t in img.tags):
            bad("ssh", f"image '{image}' has no sshd (no '{SSH_TAG}' tag)",
                f"choose an image tagged {SSH_TAG} (one that runs sshd), leave the image empty, or switch SSH off")
        elif ssh and (why := ssh_module.sshd_missing(img)):
            bad("ssh", why, "switch SSH off, or ask the site admin")
        elif ssh and not ssh_module.LOGIN.match(f"{user}-00000000"):
            bad("ssh", f"user '{user}' is no login name sshd accepts",
                "switch SSH off (SSH logins are <user>-<8 random>, lowercase letters, digits, '_', '.', '-')")
        out["ssh"] = ssh

        desc = str(values.get("description") or "")
        if len(desc) > MAX_DESCRIPTION:
            bad("description", f"is {len(desc)} characters long", f"at most {MAX_DESCRIPTION} characters")
        out["description"] = desc

        own = self._type_options(st)
        if own:
            mine = schemas.with_defaults({"properties": own}, {k: values[k] for k in own if k in values})
            type_errors = schemas.validate({"type": "object", "properties": own}, mine)
            errors.extend(type_errors)
            out.update({k: mine.get(k) for k in own})
            if not type_errors and spec in specs and self.spec_of is not None:
                why = st.check_spec(mine, self.spec_of(user, str(spec)))
                if why:
                    bad("resource_spec", *why)

        unknown = sorted(str(k) for k in set(values) - set(out) - {"type"})
        for k in unknown:
            bad(k, f"'{k}' is not a field of a development environment", "leave it out")
        if errors:
            raise ValidationErrors(errors)
        return out

    @staticmethod
    def _ports(raw: Any, bad: Callable[[str, str, str], None]) -> list[int]:
        if raw in (None, "", []):
            return []
        items = raw if isinstance(raw, list) else [p for p in re.split(r"[,\s]+", str(raw)) if p]
        ports: list[int] = []
        for p in items:
            try:
                port = int(str(p))
            except ValueError:
                bad("ports", f"'{p}' is not a port number", "give numbers from 1 to 65535, e.g. 8080,6006")
                continue
            if not 0 < port < 65536:
                bad("ports", f"port {port} is out of range", "give numbers from 1 to 65535")
            elif port in ports:
                bad("ports", f"port {port} is given twice", "give each port once")
            else:
                ports.append(port)
        if len(ports) > MAX_PORTS:
            bad("ports", f"{len(ports)} custom ports", f"give at most {MAX_PORTS}")
        return ports

    @staticmethod
    def _mounts(raw: Any, bad: Callable[[str, str, str], None]) -> list[dict[str, Any]]:
        if raw in (None, "", []):
            return []
        items = raw if isinstance(raw, list) else [m for m in re.split(r"[,\s]+", str(raw)) if m]
        out = []
        for m in items:
            if isinstance(m, str):
                src, _, rest = m.partition(":")
                target, _, mode = rest.partition(":")
                m = {"source": src, "target": target or None, "readonly": mode == "ro"}
            if not isinstance(m, dict) or not m.get("source"):
                bad("mounts", f"'{m}' is not a mount", "give source[:target[:ro]] with absolute paths")
                continue
            for key in ("source", "target"):
                path = m.get(key)
                if path and not str(path).startswith("/"):
                    bad("mounts", f"mount {key} '{path}' is a relative path",
                        "give absolute paths, e.g. /data/sets:/data:ro")
            out.append({"source": str(m["source"]), "target": m.get("target") or None,
                        "readonly": bool(m.get("readonly"))})
        return out

    # --- lifecycle --------------------------------------------------------------------------------

    def _service_values(self, env_id: int, type_name: str, v: dict[str, Any]) -> dict[str, Any]:
        """What the environment's service is created or relaunched with."""
        out = {"name": f"env-{env_id}", "type": type_name, "resource_spec": v["resource_spec"],
               "image": v.get("image"), "shm_mb": v.get("shm_mb"), "description": v.get("description") or "",
               "ports": v.get("ports") or [], "mounts": v.get("mounts") or [],
               "workdir": v.get("workdir"), "ssh": bool(v.get("ssh"))}
        out.update({k: v[k] for k in self._type_options(self.type(type_name)) if v.get(k) not in (None, "")})
        if out["ssh"]:
            out.update(self._ssh_credentials(env_id))
        return out

    def _ssh_credentials(self, env_id: int) -> dict[str, str]:
        """The environment's SSH login (made once, kept across restarts: the user's client config
        keeps working) and, for the job, only the password's hash; the store keeps it sealed."""
        with self.store.session() as s:
            row = s.get(EnvironmentRow, env_id)
            if not row.ssh_login or not self.box.open(row.ssh_secret).get("password"):
                row.ssh_login = ssh_module.new_login(row.user)
                row.ssh_secret = self.box.seal({"password": ssh_module.new_password()})
            login, user = row.ssh_login, row.user
            password = self.box.open(row.ssh_secret)["password"]
        return {"ssh_login": login, "ssh_password_hash": ssh_module.hash_password(password),
                "ssh_home": str(self.home(user))}

    @staticmethod
    def token_label(env_id: int) -> str:
        return f"environment {env_id} (made at each start, revoked at stop)"

    def _session(self, env_id: int, user: str) -> dict[str, Any]:
        """This start's API token and the portal's URL, for the environment's env (never argv:
        core.api.EnvironmentType.start_plan); the previous start's token is revoked first."""
        if self.tokens is None or self.portal_url is None:
            return {}
        self.revoke_session(env_id, user)
        return {"api_token": self.tokens.create_token(user, self.token_label(env_id)),
                "portal_url": self.portal_url()}

    def _launch_values(self, row: EnvironmentRow) -> dict[str, Any] | None:
        """What a start or restart relaunches the service with: Modify's pending values, this
        start's session; None: as it was."""
        values = {**(self._apply_pending(row) or {}), **self._session(row.id, row.user)}
        return values or None

    def service_ended(self, alias: str, user: str) -> None:
        """The environment's service was stopped or deleted by its services page: revoke."""
        with self.store.session() as s:
            env_id = s.scalars(select(EnvironmentRow.id).where(EnvironmentRow.user == user,
                                                               EnvironmentRow.service_alias == alias)).first()
        if env_id is not None:
            self.revoke_session(env_id, user)

    def revoke_session(self, env_id: int, user: str) -> None:
        if self.tokens is not None:
            self.tokens.revoke_tokens_labelled(user, self.token_label(env_id))

    def create(self, values: dict[str, Any], user: str, start: bool = True) -> EnvironmentRow:
        st = self.type(values.get("type"))
        values = dict(values)
        if not str(values.get("name") or "").strip():
            values["name"] = self.suggest_name(user, st.name)  # F12: the pre-filled available name
        clean = self._check(values, user, st)
        if start:
            why = st.check_available()
            if why:
                raise ValidationError(why, field="type", fix=f"choose another type; ask the site admin to "
                                                             f"install {st.requires or st.title} on the nodes")
        name = clean.pop("name")
        with self.store.session() as s:
            row = EnvironmentRow(user=user, name=name, type=st.name, description=clean["description"],
                                 values=clean, ssh=clean["ssh"], pending=None)
            s.add(row)
            s.flush()
            env_id = row.id
        try:
            svc = self.services.create(self._service_values(env_id, st.name, clean), user,
                                       start=False, origin=ORIGIN)
            with self.store.session() as s:
                s.get(EnvironmentRow, env_id).service_alias = svc.alias
            if start:
                self.services.relaunch(svc.alias, ORIGIN, self._session(env_id, user) or None)
        except Exception:
            self._remove(env_id, user)  # a refused create or start leaves nothing behind
            raise
        return self.get(env_id, user)

    def _remove(self, env_id: int, user: str) -> None:
        self.revoke_session(env_id, user)
        with self.store.session() as s:
            row = s.get(EnvironmentRow, env_id)
            alias = row.service_alias if row else None
            if row is not None:
                s.delete(row)
        if alias:
            try:
                self.services.delete(alias, user)
            except NotFound:
                pass

    def modify(self, ref: str | int, values: dict[str, Any], user: str) -> EnvironmentRow:
        """F21: the changes wait in `pending` until the next start or restart."""
        row = self.get(ref, user)
        for fixed in ("name", "type"):
            if fixed in values and values[fixed] not in (None, "", getattr(row, fixed)):
                raise ValidationError(f"the {fixed} of an environment cannot change", field=fixed,
                                      fix=f"create a new environment with the other {fixed}")
        base = {**row.values, **(row.pending or {})}
        changed = {k: v for k, v in values.items() if k not in ("name", "type")}
        clean = self._check({**base, **changed, "name": row.name}, user, self.type(row.type), name_of=row.id)
        clean.pop("name")
        with self.store.session() as s:
            r = s.get(EnvironmentRow, row.id)
            r.pending = clean if clean != row.values else None
            r.updated_at = now()
        return self.get(row.id, user)

    def _apply_pending(self, row: EnvironmentRow) -> dict[str, Any] | None:
        if not row.pending:
            return None
        with self.store.session() as s:
            r = s.get(EnvironmentRow, row.id)
            r.values, r.ssh, r.description, r.pending = row.pending, bool(row.pending.get("ssh")), \
                row.pending.get("description") or "", None
        return self._service_values(row.id, row.type, row.pending)

    def _service(self, row: EnvironmentRow) -> Any:
        """The environment's service; made again if it is gone (deleted from My services)."""
        if row.service_alias:
            try:
                return self.services.get(row.service_alias, row.user)
            except NotFound:
                pass
        svc = self.services.create(self._service_values(row.id, row.type, row.values), row.user,
                                   start=False, origin=ORIGIN)
        with self.store.session() as s:
            s.get(EnvironmentRow, row.id).service_alias = svc.alias
        row.service_alias = svc.alias
        return svc

    def _require(self, row: EnvironmentRow, action: str) -> None:
        svc = self._service(row)
        allowed = self.services.lifecycle_actions(svc) if action == "stop" else \
            _devenv_actions(self.services.view(svc).state)
        if action not in allowed:
            state = self.services.view(svc).state
            from core.errors import Conflict

            raise Conflict(f"environment {row.name} is {state}", field="environment",
                           fix=("allowed now: " + ", ".join(allowed)) if allowed else "wait until its state changes",
                           state=state, allowed=allowed)

    def start(self, ref: str | int, user: str) -> EnvironmentRow:
        row = self.get(ref, user)
        self._require(row, "start")
        why = self.type(row.type).check_available()
        if why:
            raise ValidationError(why, field="type", fix="ask the site admin to install it on the nodes")
        alias = self._service(row).alias
        self.services.relaunch(alias, ORIGIN, self._launch_values(row))
        return self.get(row.id, user)

    def restart(self, ref: str | int, user: str) -> EnvironmentRow:
        row = self.get(ref, user)
        self._require(row, "restart")
        self.services.relaunch(row.service_alias or "", ORIGIN, self._launch_values(row))
        return self.get(row.id, user)

    def stop(self, ref: str | int, user: str) -> EnvironmentRow:
        row = self.get(ref, user)
        self._require(row, "stop")
        self.services.stop(row.service_alias or "", user)
        self.revoke_session(row.id, user)
        return self.get(row.id, user)

    def delete(self, ref: str | int, user: str) -> None:
        row = self.get(ref, user)
        self._remove(row.id, user)

    # --- views ------------------------------------------------------------------------------------

    def view(self, row: EnvironmentRow, external_base: str = "", viewer: str | None = None) -> EnvironmentView:
        """`viewer`: who asks. The SSH password is the owner's secret: an administrator looking at
        another user's environment sees the connection but not the password."""
        st = self.type(row.type)
        svc = self._service(row)
        sv = self.services.view(svc, external_base)
        state = sv.state
        ports: dict[str, int] = {}
        custom = row.values.get("ports") or []
        if sv.ports:
            extra = sv.ports[st.server_ports:]
            ports = {str(p): extra[i] for i, p in enumerate(custom) if i < len(extra)}
        running = state == "running"
        ssh = None
        if running and row.values.get("ssh") and row.ssh_login and sv.ports and \
                len(sv.ports) > st.server_ports + len(custom):
            ssh = {**ssh_module.connection_strings(row.ssh_login, sv.host or "", sv.ports[-1]),
                   "password": self.box.open(row.ssh_secret).get("password", "")
                   if viewer in (None, row.user) else ""}
        url, client = (sv.external_path if running else None), None
        if running and viewer in (None, row.user):  # what needs the instance's secret: the owner's link and client
            secret = self.services.secret(self.services.job(svc))
            if secret and url is not None:
                url += st.open_path(sv.external_path, secret)
            client = st.client_connection(sv.host or "", list(sv.ports or []), secret)
        return EnvironmentView(
            id=row.id, name=row.name, type=row.type, type_title=st.title, open_title=st.open_title,
            user=row.user, state=state, values=dict(row.values), pending=row.pending,
            description=row.description or "", alias=row.service_alias,
            url=url, can_connect=running,
            actions=_devenv_actions(state), log_tail=sv.log_tail, ports=ports,
            reason=sv.reason, ssh=ssh, client=client)

    def log(self, ref: str | int, user: str) -> list[str]:
        """F19: the environment's start-up log (its service job's output)."""
        return self.view(self.get(ref, user)).log_tail


def _devenv_actions(state: str) -> list[str]:
    """The environment's lifecycle: the services table's, for the environment's own service."""
    from core.services import LIFECYCLE

    return [a for a, states in LIFECYCLE.items() if state in states] + ["modify", "delete"]
