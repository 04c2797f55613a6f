"""Parse the product's LSF-style batch scripts (`jsub < x.sub`) and machine files (`-mf x.mf`).

Pure functions, standard library only: the CLI, the API and the job-side launcher all read the
same files, and every mistake comes back as a ParseError that points at `source:line:column`.

Quoting follows sh. We use our own small word splitter instead of `shlex` because shlex forgets
which characters were single-quoted (where `$HOME` must stay literal) and where each word began
(which every error message needs).
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.errors import ParseError
from core.plan import ResourceRequest, RoleGroup

SUPPORTED_DIRECTIVES: tuple[str, ...] = (
    "-J", "-q", "-app", "-mf", "-o", "-e", "-n", "-port", "-W", "-M", "-cwd",
)
JAIRUN_OPTIONS: tuple[str, ...] = ("--job-type", "--image", "--cmd", "--workdir")


@dataclass
class Directives:
    name: str | None = None  # -J
    queue: str | None = None  # -q
    app: str | None = None  # -app
    machine_file: str | None = None  # -mf, path as written (relative to the submit directory)
    stdout: str | None = None  # -o, %J kept: the scheduler fills in the job ID
    stderr: str | None = None  # -e
    slots: int | None = None  # -n
    ports: int = 0  # -port
    time_limit_min: int | None = None  # -W [hours:]minutes
    # -M: a plain number is MB, because we read the cluster as LSF_UNIT_FOR_LIMITS=MB
    # (LSF's own default is KB; every site the product ships to sets MB).
    mem_limit_mb: int | None = None
    cwd: str | None = None  # -cwd


@dataclass
class JairunCall:
    job_type: str
    image: str
    cmd: str
    workdir: str | None
    line: int  # 1-based line where the call starts


@dataclass
class BatchScript:
    directives: Directives
    jairun: JairunCall | None  # None for a plain batch script
    text: str


@dataclass
class _Word:
    value: str  # quotes removed, variables expanded
    literal: str  # quotes removed, variables left as written
    start: int  # offset in the text
    quoted: bool


class _Text:
    """The script plus offset -> (line, column) so errors can point at a token."""

    def __init__(self, text: str, source: str):
        self.text, self.source = text, source
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def where(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def error(self, offset: int, message: str, fix: str | None = None) -> ParseError:
        line, col = self.where(offset)
        return ParseError(message, self.source, line, col, fix=fix)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ";&|<>()"


def _expand(t: _Text, i: int, env: Mapping[str, str]) -> tuple[str, int]:
    """Expand the `$...` at offset i like sh; returns (value, next offset)."""
    s = t.text
    if s.startswith("${", i):
        end = s.find("}", i)
        inner = s[i + 2:end] if end >= 0 else ""
        if end < 0 or not _NAME.fullmatch(inner):
            raise t.error(i, f"cannot expand '{s[i:end + 1] if end >= 0 else s[i:i + 2]}'",
                          fix="only ${NAME} and $NAME are expanded; write the value literally")
        return env.get(inner, ""), end + 1  # unset expands to empty, as in sh
    if s.startswith("$(", i):
        raise t.error(i, "command substitution $(...) cannot be evaluated before submission",
                      fix="write the value literally")
    m = _NAME.match(s, i + 1)
    if m:
        return env.get(m.group(), ""), m.end()
    return "$", i + 1  # a lone '$' is literal in sh


def _words(t: _Text, start: int, end: int, env: Mapping[str, str] | None = None
           ) -> tuple[list[_Word], int]:
    """Split one command (up to an unquoted newline or `end`) into words, as sh does.

    With `env`, the command is a shell line: `$` expands in all words but the first (the program
    path may hold ${JHSCHEDULER_TOP}, which only the node knows) and operators are refused.
    Without it (a #BSUB line), `$`, backquotes and operators are plain characters.
    """
    s, i = t.text, start
    words: list[_Word] = []
    while True:
        while i < end and (s[i] in " \t\r" or s.startswith("\\\n", i)):
            i += 2 if s[i] == "\\" else 1
        if i >= end or s[i] == "\n":
            return words, i
        if s[i] == "#":  # a comment runs to the end of the line
            nl = s.find("\n", i, end)
            return words, end if nl < 0 else nl
        w_start, quoted = i, False
        val: list[str] = []
        lit: list[str] = []
        word_env = env if words else None  # None: leave `$` as written

        def keep(chars: str) -> None:
            val.append(chars)
            lit.append(chars)
        while i < end and s[i] not in " \t\r\n":
            c = s[i]
            if env is not None and c in _OPERATORS:
                raise t.error(i, f"shell operator '{c}' is not allowed on the jairun line",
                              fix="put other commands on their own line; output goes to #BSUB -o")
            if env is not None and c == "`":
                raise t.error(i, "command substitution `...` cannot be evaluated before submission",
                              fix="write the value literally")
            if c == "'":
                close = s.find("'", i + 1, end)
                if close < 0:
                    raise t.error(i, "unterminated ' quote", fix="add the closing '")
                keep(s[i + 1:close])
                i, quoted = close + 1, True
            elif c == '"':
                open_at, i, quoted = i, i + 1, True
                while True:
                    if i >= end:
                        raise t.error(open_at, 'unterminated " quote', fix='add the closing "')
                    c = s[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\" and i + 1 < end and s[i + 1] in '$`"\\\n':
                        if s[i + 1] != "\n":  # backslash-newline joins lines, even in quotes
                            keep(s[i + 1])
                        i += 2
                    elif c == "$" and word_env is not None:
                        v, j = _expand(t, i, word_env)
                        val.append(v)
                        lit.append(s[i:j])
                        i = j
                    else:
                        keep(c)
                        i += 1
            elif c == "\\" and i + 1 < end:
                if s[i + 1] != "\n":
                    keep(s[i + 1])
                i += 2
            elif c == "$" and word_env is not None:
                v, j = _expand(t, i, word_env)
                val.append(v)
                lit.append(s[i:j])
                i = j
            else:
                keep(c)
                i += 1
        words.append(_Word("".join(val), "".join(lit), w_start, quoted))


# --- #BSUB directives ------------------------------------------------------------------------

_FIELDS = {"-J": "name", "-q": "queue", "-app": "app", "-mf": "machine_file", "-o": "stdout",
           "-e": "stderr", "-n": "slots", "-port": "ports", "-W": "time_limit_min",
           "-M": "mem_limit_mb", "-cwd": "cwd"}
_EXAMPLES = {"-J": "-J my_job", "-q": "-q ai_excl", "-app": "-app jhai_command",
             "-mf": "-mf standalone_cpu.mf", "-o": "-o output.%J.txt", "-e": "-e error.%J.txt",
             "-n": "-n 4", "-port": "-port 2", "-W": "-W 90' (minutes) or '#BSUB -W 1:30",
             "-M": "-M 4096' (MB) or '#BSUB -M 4G", "-cwd": "-cwd /path/to/dir"}
_KB_PER_UNIT = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}
_MEM = re.compile(r"(\d+)([KMGT]B?)?", re.IGNORECASE | re.ASCII)
_MINUTES = re.compile(r"(?:(\d+):)?(\d+)", re.ASCII)


def _directive_value(opt: str, raw: str) -> tuple[object | None, str]:
    """Convert a directive value; returns (value, "") or (None, what was expected)."""
    if opt in ("-n", "-port"):
        if raw.isascii() and raw.isdigit() and (opt == "-port" or int(raw) > 0):
            return int(raw), ""
        return None, "a positive whole number" if opt == "-n" else "a whole number, 0 or more"
    if opt == "-W":
        m = _MINUTES.fullmatch(raw)
        if m and (m.group(1) is None or int(m.group(2)) < 60):
            minutes = int(m.group(1) or 0) * 60 + int(m.group(2))
            if minutes > 0:
                return minutes, ""
        return None, "a positive time as [hours:]minutes, minutes below 60 after a colon"
    if opt == "-M":
        m = _MEM.fullmatch(raw)
        if m:
            kb = int(m.group(1)) * _KB_PER_UNIT[(m.group(2) or "M")[0].upper()]
            mb = -(-kb // 1024)  # round K up: a limit below what was asked would kill the job
            if mb > 0:
                return mb, ""
        return None, "a positive size: a number of MB, or a number with K, M, G or T"
    return raw, ""


def _parse_directives(t: _Text) -> Directives:
    d = Directives()
    seen: dict[str, int] = {}
    for n, start in enumerate(t.starts, 1):
        end = t.starts[n] - 1 if n < len(t.starts) else len(t.text)
        line = t.text[start:end]
        body = line.lstrip()
        if body and not body.startswith("#"):
            break  # the first command ends the directive block, as in LSF
        if not (body.startswith("#BSUB") and (len(body) == 5 or body[5].isspace())):
            continue
        at = start + len(line) - len(body)
        words, _ = _words(t, at + 5, end)
        if not words:
            raise t.error(at, "#BSUB without an option",
                          fix="write one option and its value, e.g. '#BSUB -J my_job'")
        opt_w = words[0]
        opt = opt_w.value
        if opt not in _FIELDS:
            name, eq, _ = opt.partition("=")
            hint = f"write '#BSUB {name} value', without '='; " if eq and name in _FIELDS else ""
            raise t.error(opt_w.start, f"unknown #BSUB option '{opt}'",
                          fix=hint + "supported options: " + ", ".join(SUPPORTED_DIRECTIVES))
        if opt in seen:
            raise t.error(opt_w.start, f"{opt} given twice, lines {seen[opt]} and {n}",
                          fix=f"keep one '#BSUB {opt}' line")
        if len(words) < 2 or words[1].value == "":
            raise t.error(opt_w.start, f"{opt} needs a value",
                          fix=f"write '#BSUB {_EXAMPLES[opt]}'")
        if len(words) > 2:
            raise t.error(words[2].start, f"unexpected '{words[2].value}' after {opt} {words[1].value}",
                          fix="each #BSUB line takes one option and one value; "
                              "quote a value that contains spaces")
        value, expected = _directive_value(opt, words[1].value)
        if value is None:
            raise t.error(words[1].start, f"{opt} expects {expected}, got '{words[1].value}'",
                          fix=f"write '#BSUB {_EXAMPLES[opt]}'")
        seen[opt] = n
        setattr(d, _FIELDS[opt], value)
    return d


# --- the jairun call -------------------------------------------------------------------------

_JAIRUN_FIX = {
    "--job-type": "add --job-type standalone, ps or horovod",
    "--image": "add --image <registry-host:port>/<namespace>/<repo>:<tag>",
    "--cmd": "add --cmd='<command to run in the container>'",
    "--workdir": "write --workdir=<directory>",
}


def _is_jairun(program: str) -> bool:
    # '{JHSCHEDULER_TOP}/...' (the docs' missing '$') also ends in /jairun, so it is accepted.
    return program == "jairun" or program.endswith("/jairun")


def _continues(line: str) -> bool:
    """True when the line ends in an unescaped backslash, so sh joins the next line to it."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _parse_call(t: _Text, words: list[_Word], stop: int) -> JairunCall:
    """`words` is the whole call; `stop` is where it ends (for "missing ..." errors)."""
    prog = words[0]
    line = t.where(prog.start)[0]
    for k, expected in ((1, "djm"), (2, "command")):
        if len(words) <= k or words[k].value != expected:
            at = words[k].start if len(words) > k else stop
            got = f"'{words[k].value}'" if len(words) > k else "nothing"
            raise t.error(at, f"expected '{expected}' after '{' '.join(w.value for w in words[:k])}',"
                              f" got {got}",
                          fix="write 'jairun djm command --job-type ... --image ... --cmd=...'")
    opts: dict[str, str] = {}
    k = 3
    while k < len(words):
        w = words[k]
        name, eq, value = w.value.partition("=")
        if not name.startswith("--"):
            raise t.error(w.start, f"unexpected argument '{w.value}' to jairun",
                          fix="options are " + ", ".join(JAIRUN_OPTIONS)
                              + "; quote --cmd if the command has spaces")
        if name not in JAIRUN_OPTIONS:
            raise t.error(w.start, f"unknown jairun option '{name}'",
                          fix="supported options: " + ", ".join(JAIRUN_OPTIONS))
        if name in opts:
            raise t.error(w.start, f"{name} given twice", fix=f"keep one {name}")
        if not eq:
            nxt = words[k + 1] if k + 1 < len(words) else None
            if nxt is None or (not nxt.quoted and nxt.value.partition("=")[0] in JAIRUN_OPTIONS):
                raise t.error(w.start, f"{name} needs a value", fix=_JAIRUN_FIX[name])
            value, k = nxt.value, k + 1
        if value == "":
            raise t.error(w.start, f"{name} is empty (after expanding variables)",
                          fix=_JAIRUN_FIX[name])
        opts[name] = value
        k += 1
    for name in ("--job-type", "--image", "--cmd"):
        if name not in opts:
            raise t.error(prog.start, f"the jairun call on line {line} is missing {name}",
                          fix=_JAIRUN_FIX[name])
    return JairunCall(job_type=opts["--job-type"], image=opts["--image"], cmd=opts["--cmd"],
                      workdir=opts.get("--workdir"), line=line)


def _find_jairun(t: _Text, env: Mapping[str, str]) -> JairunCall | None:
    call: JairunCall | None = None
    n, joined = 0, False
    while n < len(t.starts):
        start = t.starts[n]
        end = t.starts[n + 1] - 1 if n + 1 < len(t.starts) else len(t.text)
        line = t.text[start:end]
        first = line.split(None, 1)[0].strip("\"'") if line.strip() else ""
        if not joined and _is_jairun(first):
            words, stop = _words(t, start, len(t.text), env)
            if words and _is_jairun(words[0].literal):
                if call is not None:
                    raise t.error(words[0].start,
                                  f"a second jairun call (the first is on line {call.line})",
                                  fix="a script launches one job: keep one jairun call")
                call = _parse_call(t, words, stop)
                n, joined = t.where(stop)[0], False  # skip the lines the call spans
                continue
        joined = _continues(line)
        n += 1
    return call


def _open_quote(line: str, quote: str) -> str:
    """The quote still open at the end of `line` ("" if none), given the one open before it."""
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        i += 1
    return quote


def join_dangling_options(text: str) -> tuple[str, list[int]]:
    """The manual prints the jairun call over several lines without the trailing backslashes
    (`...jairun djm command` then `--job-type standalone --image ...` on the next lines), which
    sh would run as separate commands. Join such `--option` lines onto the call, as the
    product's users mean it. Returns the text (line numbers unchanged) and the lines joined."""
    lines = text.split("\n")
    joined: list[int] = []
    in_call, quote = False, ""
    for i, line in enumerate(lines):
        words = line.split()
        if not in_call and words and _is_jairun(words[0].strip("\"'")):
            in_call, quote = True, ""
        elif in_call and not quote and not (words and words[0].startswith("--")):
            in_call = False
        if in_call:
            quote = _open_quote(line, quote)
        if in_call and not quote and i + 1 < len(lines) and lines[i + 1].lstrip().startswith("--"):
            stripped = line.rstrip()
            if not _continues(stripped):
                lines[i] = stripped + " \\"
                joined.append(i + 2)
            else:
                lines[i] = stripped  # "\  " would escape a space instead of joining lines
    return "\n".join(lines), joined


def parse_batch_script(text: str, source: str = "<stdin>",
                       env: Mapping[str, str] | None = None) -> BatchScript:
    """Read #BSUB directives and the jairun call (if any). `env` (default os.environ) expands
    `$VAR` in jairun option values, as the submitting shell would. The returned text has the
    manual's dangling `--option` lines joined onto the jairun call (see join_dangling_options)."""
    text, _ = join_dangling_options(text)
    t = _Text(text, source)
    return BatchScript(directives=_parse_directives(t),
                       jairun=_find_jairun(t, os.environ if env is None else env), text=text)


# --- machine files ---------------------------------------------------------------------------

_MF_KEYS = ("host", "slots", "gpu", "tag")
_MF_EXAMPLE = 'e.g. 2*[host:all slots:2 gpu:1 tag:"worker"]'


_COUNT = re.compile(r"\d+", re.ASCII)
_KEY = re.compile(r"[A-Za-z_]+")
_Err = Callable[..., ParseError]  # err(index, message, fix) -> ParseError at that column


def _mf_group(line: str, err: _Err) -> RoleGroup:
    i, n = 0, len(line)

    def skip() -> int:
        j = i
        while j < n and line[j] in " \t\r":
            j += 1
        return j

    i = skip()
    count = 1
    m = _COUNT.match(line, i)
    if m:
        count = int(m.group())
        if count < 1:
            raise err(i, f"instance count must be at least 1, got {m.group()}",
                      fix="write 1* or drop the count")
        i = m.end()
        i = skip()
        if i >= n or line[i] != "*":
            raise err(i, f"expected '*' after the count {m.group()}", fix=_MF_EXAMPLE)
        i += 1
        i = skip()
    if i >= n or line[i] != "[":
        raise err(i, "expected '[' to start a resource group", fix=_MF_EXAMPLE)
    open_at, i = i, i + 1
    values: dict[str, tuple[str, int]] = {}
    while True:
        i = skip()
        if i < n and line[i] == "]":
            i += 1
            break
        if i >= n:
            raise err(i, f"expected ']' to close the '[' at column {open_at + 1}", fix=_MF_EXAMPLE)
        km = _KEY.match(line, i)
        if not km:
            raise err(i, f"expected key:value, got '{line[i]}'", fix=_MF_EXAMPLE)
        key, key_at, i = km.group(), i, km.end()
        if key not in _MF_KEYS:
            raise err(key_at, f"unknown key '{key}'", fix="use host, slots, gpu or tag")
        if key in values:
            raise err(key_at, f"'{key}' given twice in one group", fix=f"keep one {key}:")
        if i >= n or line[i] != ":":
            raise err(i, f"expected ':' right after '{key}'", fix=f"write {key}:<value>")
        i += 1
        val_at = i
        if i < n and line[i] == '"':
            close = line.find('"', i + 1)
            if close < 0:
                raise err(i, 'unterminated " quote', fix='add the closing "')
            value, i = line[i + 1:close], close + 1
        else:
            while i < n and (line[i].isalnum() or line[i] in "_.-"):
                i += 1
            value = line[val_at:i]
            if i < n and line[i] not in " \t\r]":
                raise err(i, f"unexpected '{line[i]}' in the value of '{key}'",
                          fix='separate key:value pairs with spaces; quote other text, tag:"a b"')
        if value == "":
            raise err(val_at, f"missing value after '{key}:'", fix=f"write {key}:<value>, no space")
        values[key] = (value, val_at)
    i = skip()
    if i < n and line[i] != "#":
        raise err(i, f"unexpected '{line[i:].rstrip()}' after ']'", fix="write one group per line")
    nums: dict[str, int] = {}
    for key, least in (("slots", 1), ("gpu", 0)):
        if key in values:
            value, at = values[key]
            if not (value.isascii() and value.isdigit() and int(value) >= least):
                kind = "a positive whole number" if least else "a whole number, 0 or more"
                raise err(at, f"{key} must be {kind}, got '{value}'", fix=f"write {key}:{least + 1}")
            nums[key] = int(value)
    host = values.get("host", ("all", 0))[0]
    return RoleGroup(count=count, tag=values["tag"][0] if "tag" in values else None,
                     request=ResourceRequest(cpus=nums.get("slots", 1), gpus=nums.get("gpu", 0),
                                             host=None if host == "all" else host))


def parse_machine_file(text: str, source: str = "<machine file>") -> list[RoleGroup]:
    """One RoleGroup per `[N*][host:... slots:... gpu:... tag:...]` line, in file order."""
    groups: list[RoleGroup] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue

        def err(i: int, message: str, fix: str | None = None, n: int = n) -> ParseError:
            return ParseError(message, source, n, i + 1, fix=fix)

        groups.append(_mf_group(line, err))
    if not groups:
        raise ParseError("the machine file has no resource group", source, 1, 1,
                         fix="write one group per line, " + _MF_EXAMPLE)
    return groups
