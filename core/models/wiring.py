"""The registry's ModelDeps made from the platform's parts (the one place that knows both)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import tracking
from core.errors import ValidationError
from core.models.mlflow_registry import RegistryClient
from core.models.service import ModelDeps
from core.plan import ResourceRequest

if TYPE_CHECKING:
    from core.platform import Platform


def model_deps(p: "Platform") -> ModelDeps:
    def python_of(image_name: str) -> str:
        image = p.images.resolve(image_name, field="converter")
        runtime = p.registry.get("runtime", p.config.default_runtime)
        why = runtime.check_image(image)
        if why:
            raise ValidationError(why, field="converter",
                                  fix=f"an administrator runs `hpcai images build {image.name}`")
        return str(Path(image.reference) / "bin" / "python")

    def resource(user: str, spec: str | None) -> ResourceRequest:
        groups = p.jobs.groups_of(user)
        if spec:
            return p.specs.get_visible(spec, user, groups, "resource_spec").to_request()
        cpu = [s for s in p.specs.visible(user, groups) if s.kind == "cpu"]
        if not cpu:
            raise ValidationError("no CPU resource spec is visible to you", field="resource_spec",
                                  fix="ask an administrator for one")
        return cpu[0].to_request()

    def serving_types() -> dict[str, bool]:
        return {name: not st.status_note() for name, st in p.services.types().items() if st.category == "serving"}

    def service_states(aliases: list[str], user: str) -> list[dict[str, Any]]:
        out = []
        for alias in aliases:
            try:
                row = p.services.get(alias, user)
            except Exception:  # noqa: BLE001 - a deleted or foreign service is simply not listed
                continue
            out.append({"alias": row.alias, "name": row.name, "type": row.type, "user": row.user,
                        "state": p.services.state(row)})
        return out

    def job_dir(ref: str, user: str) -> Path:
        return Path(p.jobs.get(ref, user).job_dir)

    return ModelDeps(
        store=p.store, registry=RegistryClient.for_settings(tracking.settings_from_config(p.config)),
        check_path=lambda user, path, fld, must_exist=True: p.workspace.check(user, path, field=fld,
                                                                            must_exist=must_exist),
        home=p.workspace.home, submit=p.jobs.submit, python_of=python_of, resource=resource,
        converters=lambda: {i.name: i.descriptor for i in p.registry.list("converter", enabled_only=True)},
        serving_types=serving_types, create_service=lambda values, user: p.services.create(values, user),
        service_states=service_states, is_admin=p.jobs.is_admin, groups_of=p.jobs.groups_of,
        group_members=p.datasets.group_members, group_area=p.datasets.group_area, job_dir=job_dir,
        upload_max_bytes=p.workspace.limits()[0])
