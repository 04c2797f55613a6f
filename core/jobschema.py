"""The fields every training job has, as a schema fragment owned by the core.

Plugins add their own fragments (mode topology, job options); the shells render the merge.
"""

from __future__ import annotations

from typing import Any

# Fields that map onto JobRequest attributes; every other field lands in JobRequest.options.
CORE_FIELDS = ("name", "project", "framework", "image", "mode", "workdir", "create_exec_dir",
               "mounts", "command", "env", "shm_mb", "runtime", "scheduler", "queue",
               "time_limit_min", "array_size", "classification")


def core_schema(frameworks: list[str], modes: list[str], runtimes: list[str],
                schedulers: list[str], images: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["framework", "workdir", "command"],
        "properties": {
            "project": {"type": "string", "title": "Project", "default": "default", "x-order": 1},
            "name": {"type": "string", "title": "Job name", "maxLength": 255, "x-order": 2,
                     "description": "defaults to the framework's job name"},
            "framework": {"type": "string", "title": "Training framework", "enum": frameworks,
                          "x-widget": "select", "x-order": 3},
            "image": {"type": "string", "title": "Image", "x-widget": "image", "x-order": 4,
                      "description": "catalog name or the product's image reference",
                      "x-fix": "choose one of: " + ", ".join(images) if images else None},
            "mode": {"type": "string", "title": "Run mode", "enum": modes, "x-widget": "select",
                     "x-order": 5},
            "workdir": {"type": "string", "title": "Project directory", "minLength": 1,
                        "x-widget": "directory", "x-order": 6,
                        "x-fix": "give the directory that holds your code, e.g. --workdir ~/example/pytorch"},
            "create_exec_dir": {"type": "boolean", "title": "Create job execution directory",
                                "default": False, "x-widget": "switch", "x-order": 7,
                                "description": "copy the project into the job's data area and run there"},
            "mounts": {"type": "array", "title": "Mount information", "x-widget": "mounts",
                       "x-order": 8, "default": [],
                       "items": {"type": "object", "required": ["source"],
                                 "properties": {"source": {"type": "string", "minLength": 1},
                                                "target": {"type": ["string", "null"]}}},
                       "description": "SRC[:MOUNT_POINT]; an empty mount point equals SRC"},
            "command": {"type": "string", "title": "Run command", "pattern": r"\S", "x-widget": "textarea",
                        "x-order": 9,
                        "x-fix": "give the command to run, e.g. --command 'python train.py'"},
            "env": {"type": "object", "title": "Environment variables", "default": {},
                    "additionalProperties": {"type": "string"}, "x-widget": "env", "x-order": 10,
                    "description": "comma-separated KEY=value pairs, e.g. ENV1=test1,ENV2=test2"},
            "shm_mb": {"type": "integer", "title": "Shared memory (MB)", "minimum": 1, "x-order": 11,
                       "description": "default: the node's default-shm-size (Docker daemon.json)"},
            "queue": {"type": "string", "title": "Queue (partition)", "x-order": 40,
                      "description": "the scheduler's queue or partition; empty: the site's default"},
            "time_limit_min": {"type": "integer", "title": "Time limit (minutes)", "minimum": 1,
                               "x-order": 41, "description": "the job is stopped when it runs longer; "
                                                             "empty: the queue's limit"},
            "array_size": {"type": "integer", "title": "Array tasks", "minimum": 1, "x-order": 44,
                           "description": "run N copies as a job array; each sees HPCAI_ARRAY_INDEX"},
            "runtime": {"type": "string", "title": "Runtime", "enum": runtimes, "x-order": 42},
            "scheduler": {"type": "string", "title": "Scheduler", "enum": schedulers, "x-order": 43},
        },
    }
