"""Batch scripts (`jsub < x.sub`) and machine files, as written in the product manual."""

from __future__ import annotations

import shlex

import pytest

from core.batchscript import (
    SUPPORTED_DIRECTIVES,
    BatchScript,
    Directives,
    JairunCall,
    parse_batch_script,
    parse_machine_file,
)
from core.errors import ParseError, ValidationError
from core.plan import ResourceRequest, RoleGroup

ENV = {"HOME": "/home/alice", "JHSCHEDULER_TOP": "/opt/jhinno"}

# 01 §6.1, verbatim (trailing comments included).
STANDALONE = """#!/bin/sh
#BSUB -J tensorflow_standalone_cpu        # job name
#BSUB -q ai_excl                          # queue
#BSUB -app jhai_command                   # application profile for command-line AI jobs
#BSUB -mf standalone_cpu.mf               # machine file: hosts / slots / GPUs
#BSUB -o output.%J.txt                    # output log; %J = job ID

${JHSCHEDULER_TOP}/scripts/jhai/service/jairun djm command \\
    --job-type standalone \\
    --image 192.168.0.153:5000/jhinno/tensorflow:2.13 \\
    --cmd='python mnist_tf2.py' \\
    --workdir=${HOME}/example/tensorflow
"""

# 03 §4, verbatim.
HOROVOD = """#!/bin/sh
#BSUB -J tensorflow_horovod_cpu
#BSUB -q ai_excl
#BSUB -app jhai_command
#BSUB -mf horovod_cpu.mf
#BSUB -o output.%J.txt
#BSUB -port 2
${JHSCHEDULER_TOP}/scripts/jhai/service/jairun djm command --job-type horovod \\
  --image 192.168.0.153:5000/jhinno/tensorflow:2.13 \\
  --cmd='python mnist_tf2_horovod.py' --workdir=${HOME}/example/tensorflow
"""


def parse(text: str, env: dict[str, str] | None = None) -> BatchScript:
    return parse_batch_script(text, "job.sub", env=ENV if env is None else env)


def error(text: str, env: dict[str, str] | None = None) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, env)
    return info.value


def call(opts: str, env: dict[str, str] | None = None) -> JairunCall:
    script = parse(f"#!/bin/sh\njairun djm command {opts}\n", env)
    assert script.jairun is not None
    return script.jairun


# --- the manual's scripts --------------------------------------------------------------------

def test_standalone_script_from_the_manual():
    script = parse(STANDALONE)
    assert script.directives == Directives(
        name="tensorflow_standalone_cpu", queue="ai_excl", app="jhai_command",
        machine_file="standalone_cpu.mf", stdout="output.%J.txt")
    assert script.jairun == JairunCall(
        job_type="standalone", image="192.168.0.153:5000/jhinno/tensorflow:2.13",
        cmd="python mnist_tf2.py", workdir="/home/alice/example/tensorflow", line=8)
    assert script.text == STANDALONE


def test_horovod_script_from_the_manual():
    script = parse(HOROVOD)
    d = script.directives
    assert (d.name, d.queue, d.app, d.machine_file, d.stdout, d.ports) == (
        "tensorflow_horovod_cpu", "ai_excl", "jhai_command", "horovod_cpu.mf", "output.%J.txt", 2)
    assert script.jairun == JairunCall(
        job_type="horovod", image="192.168.0.153:5000/jhinno/tensorflow:2.13",
        cmd="python mnist_tf2_horovod.py", workdir="/home/alice/example/tensorflow", line=8)


def test_program_path_without_dollar_as_in_some_docs():
    text = HOROVOD.replace("${JHSCHEDULER_TOP}/scripts", "{JHSCHEDULER_TOP}/scripts")
    assert text != HOROVOD
    assert parse(text).jairun.job_type == "horovod"


def test_program_path_is_not_expanded():
    # JHSCHEDULER_TOP is unset at submit time, and an exotic form there is not our business.
    text = "${JHSCHEDULER_TOP:-/opt}/scripts/jhai/service/jairun djm command " \
           "--job-type ps --image i --cmd c\n"
    assert parse(text, env={}).jairun.job_type == "ps"


def test_bare_jairun_and_quoted_program():
    assert call("--job-type standalone --image i --cmd c").image == "i"
    script = parse('"$JHSCHEDULER_TOP/scripts/jhai/service/jairun" djm command '
                   "--job-type ps --image i --cmd c\n")
    assert script.jairun.line == 1


def test_plain_batch_script_has_no_jairun_call():
    script = parse("#!/bin/sh\n#BSUB -J plain\n#BSUB -n 4\necho jairun djm command\n"
                   "./a.out > out.txt; echo done\n")
    assert script.jairun is None
    assert (script.directives.name, script.directives.slots) == ("plain", 4)


def test_empty_script():
    script = parse("")
    assert script.directives == Directives() and script.jairun is None


# --- jairun options, quoting and expansion ---------------------------------------------------

def test_continuation_lines_and_mixed_option_forms():
    text = ("#BSUB -J x\n\nmodule load foo\n"
            "jairun \\\n  djm command \\\n  --job-type=ps \\\n  --image \"reg:5000/a/b:1\" \\\n"
            "  --cmd 'python p.py'\n")
    assert parse(text).jairun == JairunCall(
        job_type="ps", image="reg:5000/a/b:1", cmd="python p.py", workdir=None, line=4)


def test_cmd_with_nested_quotes_matches_the_shell():
    opts = """--job-type standalone --image i --cmd='python a.py --x="1 2"'"""
    assert call(opts).cmd == 'python a.py --x="1 2"'
    assert call(opts).cmd == shlex.split(opts)[-1].partition("=")[2]


@pytest.mark.parametrize("opts, expected", [
    ('--cmd="python a.py --out $HOME/o"', "python a.py --out /home/alice/o"),
    ("--cmd='echo $HOME'", "echo $HOME"),  # single quotes: no expansion
    (r'--cmd="say \"hi\" \$HOME"', 'say "hi" $HOME'),
    (r"--cmd=python\ a.py", "python a.py"),
    ("--cmd=run$UNSET.sh", "run.sh"),  # unset expands to empty, as in sh
    ("--cmd 'cost $5'", "cost $5"),
    ('--cmd "a $ b"', "a $ b"),
])
def test_cmd_quoting_and_expansion(opts, expected):
    assert call("--job-type ps --image i " + opts).cmd == expected


def test_home_expansion_forms_and_default_environment(monkeypatch):
    assert call("--job-type ps --image i --cmd c --workdir $HOME/w").workdir == "/home/alice/w"
    assert call("--job-type ps --image i --cmd c --workdir=${HOME}x").workdir == "/home/alicex"
    monkeypatch.setenv("HOME", "/home/bob")
    script = parse_batch_script("jairun djm command --job-type ps --image i --cmd c "
                                "--workdir=${HOME}/w\n")
    assert script.jairun.workdir == "/home/bob/w"


def test_directives_after_the_call_and_comments_in_the_call():
    text = ("#BSUB -J a\njairun djm command --job-type ps --image i --cmd c # run it\n"
            "#BSUB -J b\n#BSUB -bogus\n")
    script = parse(text)
    assert script.directives.name == "a"  # LSF ignores #BSUB after the first command
    assert script.jairun.cmd == "c"


def test_multiline_quoted_cmd():
    script = parse("jairun djm command --job-type ps --image i --cmd='python a.py\n  --x 1'\n"
                   "echo after\n")
    assert script.jairun.cmd == "python a.py\n  --x 1"


# --- jairun errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["--job-type", "--image", "--cmd"])
def test_missing_required_option(missing):
    opts = {"--job-type": "ps", "--image": "i", "--cmd": "c"}
    del opts[missing]
    text = "#!/bin/sh\n\njairun djm command " + " ".join(f"{k} {v}" for k, v in opts.items())
    e = error(text + "\n")
    assert (e.line, e.column) == (3, 1)
    assert e.message == f"the jairun call on line 3 is missing {missing}"
    assert missing in e.fix


@pytest.mark.parametrize("text, line, column, message", [
    ("jairun djm command --job-type ps --image i --cmd c --gpus 2\n", 1, 52,
     "unknown jairun option '--gpus'"),
    ("jairun djm command --job-type ps --image i \\\n  --cmd c extra\n", 2, 11,
     "unexpected argument 'extra' to jairun"),
    ("jairun djm run --job-type ps\n", 1, 12, "expected 'command' after 'jairun djm', got 'run'"),
    ("jairun command --job-type ps\n", 1, 8, "expected 'djm' after 'jairun', got 'command'"),
    ("jairun djm\n", 1, 11, "expected 'command' after 'jairun djm', got nothing"),
    ("jairun djm command --job-type ps --image i --cmd\n", 1, 44, "--cmd needs a value"),
    ("jairun djm command --job-type --image i --cmd c\n", 1, 20, "--job-type needs a value"),
    ("jairun djm command --job-type ps --image= --cmd c\n", 1, 34,
     "--image is empty (after expanding variables)"),
    ("jairun djm command --job-type ps --job-type ps\n", 1, 34, "--job-type given twice"),
    ("jairun djm command --job-type ps --image i --cmd 'python a.py\n", 1, 50, "unterminated ' quote"),
    ("jairun djm command --job-type ps --image i --cmd c > log\n", 1, 52,
     "shell operator '>' is not allowed on the jairun line"),
    ("jairun djm command --job-type ps --image $(cat img) --cmd c\n", 1, 42,
     "command substitution $(...) cannot be evaluated before submission"),
    ("jairun djm command --job-type ps --image ${IMG:-x} --cmd c\n", 1, 42,
     "cannot expand '${IMG:-x}'"),
])
def test_jairun_errors(text, line, column, message):
    e = error(text)
    assert (e.source, e.line, e.column, e.message) == ("job.sub", line, column, message)


def test_two_jairun_calls_are_refused():
    one = "jairun djm command --job-type ps --image i --cmd c\n"
    e = error("#!/bin/sh\n" + one + "echo between\n  " + one)
    assert (e.line, e.column) == (4, 3)
    assert e.message == "a second jairun call (the first is on line 2)"


# --- #BSUB directives ------------------------------------------------------------------------

def test_all_directives_and_quoting():
    text = ("#!/bin/bash\n# a comment\n\n"
            '#BSUB -J "my job"\n'
            "#BSUB -q 'ai'  # queue\n"
            "  #BSUB -app jhai_command\n"
            "#BSUB -mf ../mf/ps_cpu.mf\n"
            "#BSUB -o out.%J.txt\n#BSUB -e err.%J.txt\n"
            "#BSUB -n 8\n#BSUB -port 0\n#BSUB -W 2:05\n#BSUB -M 16G\n#BSUB -cwd /scratch/a\n"
            "#BSUBX -J ignored\n#bsub -J ignored\n"
            "echo hi\n")
    assert parse(text).directives == Directives(
        name="my job", queue="ai", app="jhai_command", machine_file="../mf/ps_cpu.mf",
        stdout="out.%J.txt", stderr="err.%J.txt", slots=8, ports=0, time_limit_min=125,
        mem_limit_mb=16384, cwd="/scratch/a")


def test_supported_directives():
    assert SUPPORTED_DIRECTIVES == ("-J", "-q", "-app", "-mf", "-o", "-e", "-n", "-port", "-W",
                                    "-M", "-cwd")


@pytest.mark.parametrize("value, minutes", [("90", 90), ("1:30", 90), ("0:45", 45), ("10:00", 600),
                                            ("2:5", 125)])
def test_time_limit(value, minutes):
    assert parse(f"#BSUB -W {value}\n").directives.time_limit_min == minutes


@pytest.mark.parametrize("value, mb", [
    ("4096", 4096), ("2048M", 2048), ("2048mb", 2048), ("4G", 4096), ("4gb", 4096),
    ("1T", 1048576), ("1TB", 1048576), ("2048K", 2), ("1kb", 1), ("1500K", 2),
])
def test_memory_limit_units(value, mb):
    assert parse(f"#BSUB -M {value}\n").directives.mem_limit_mb == mb


@pytest.mark.parametrize("text, line, column, message", [
    ("#BSUB -x 1\n", 1, 7, "unknown #BSUB option '-x'"),
    ("#!/bin/sh\n#BSUB -R \"span[hosts=1]\"\n", 2, 7, "unknown #BSUB option '-R'"),
    ("#BSUB -j name\n", 1, 7, "unknown #BSUB option '-j'"),  # case-sensitive, as in LSF
    ("#BSUB -J\n", 1, 7, "-J needs a value"),
    ("#BSUB -q   # queue\n", 1, 7, "-q needs a value"),
    ("#BSUB -J ''\n", 1, 7, "-J needs a value"),
    ("#BSUB\n", 1, 1, "#BSUB without an option"),
    ("#BSUB -n four\n", 1, 10, "-n expects a positive whole number, got 'four'"),
    ("#BSUB -n 0\n", 1, 10, "-n expects a positive whole number, got '0'"),
    ("#BSUB -n 2,4\n", 1, 10, "-n expects a positive whole number, got '2,4'"),
    ("#BSUB -port x\n", 1, 13, "-port expects a whole number, 0 or more, got 'x'"),
    ("#BSUB -port -1\n", 1, 13, "-port expects a whole number, 0 or more, got '-1'"),
    ("#BSUB -W abc\n", 1, 10,
     "-W expects a positive time as [hours:]minutes, minutes below 60 after a colon, got 'abc'"),
    ("#BSUB -W 1:70\n", 1, 10,
     "-W expects a positive time as [hours:]minutes, minutes below 60 after a colon, got '1:70'"),
    ("\n#BSUB   -W -5\n", 2, 12,
     "-W expects a positive time as [hours:]minutes, minutes below 60 after a colon, got '-5'"),
    ("#BSUB -W 0\n", 1, 10,
     "-W expects a positive time as [hours:]minutes, minutes below 60 after a colon, got '0'"),
    ("#BSUB -M 4X\n", 1, 10,
     "-M expects a positive size: a number of MB, or a number with K, M, G or T, got '4X'"),
    ("#BSUB -M 1.5G\n", 1, 10,
     "-M expects a positive size: a number of MB, or a number with K, M, G or T, got '1.5G'"),
    ("#BSUB -J my job\n", 1, 13, "unexpected 'job' after -J my"),
    ("#BSUB -J 'my job\n", 1, 10, "unterminated ' quote"),
    ("#BSUB -J a\n#BSUB -q q\n\n# x\n#BSUB -J b\n", 5, 7, "-J given twice, lines 1 and 5"),
])
def test_directive_errors(text, line, column, message):
    e = error(text)
    assert (e.line, e.column, e.message) == (line, column, message)


def test_directive_error_fixes_tell_what_to_write():
    assert error("#BSUB -x 1\n").fix == "supported options: " + ", ".join(SUPPORTED_DIRECTIVES)
    assert error("#BSUB -J=a\n").fix.startswith("write '#BSUB -J value', without '='")
    assert error("#BSUB -W 1:70\n").fix == "write '#BSUB -W 90' (minutes) or '#BSUB -W 1:30'"
    assert error("#BSUB -n 0\n").fix == "write '#BSUB -n 4'"
    e = error("#BSUB -J a\n#BSUB -J b\n")
    assert e.text == "job.sub:2:7: -J given twice, lines 1 and 2 (keep one '#BSUB -J' line)"
    assert isinstance(e, ValidationError)


# --- machine files ---------------------------------------------------------------------------

def group(count: int, cpus: int, gpus: int = 0, tag: str | None = None,
          host: str | None = None) -> RoleGroup:
    return RoleGroup(count=count, request=ResourceRequest(cpus=cpus, gpus=gpus, host=host), tag=tag)


@pytest.mark.parametrize("text, groups", [
    ("[host:all slots:1]", [group(1, 1)]),
    ("[host:all slots:1 gpu:1]\n", [group(1, 1, 1)]),
    ("2*[host:all slots:2]", [group(2, 2)]),
    ('1*[host:all slots:2 tag:"server"]', [group(1, 2, tag="server")]),
    ("2*[host:all slots:1 gpu:1]", [group(2, 1, 1)]),
    ('1*[host:all slots:2 tag:"server"]\n1*[host:all slots:2 tag:"worker"]\n',
     [group(1, 2, tag="server"), group(1, 2, tag="worker")]),
    ('1*[host:all slots:2 tag:"server"]\n1*[host:all slots:2 gpu:1 tag:"worker"]\n',
     [group(1, 2, tag="server"), group(1, 2, 1, tag="worker")]),
    ("# PS job\n\n 3 * [ host:node07  slots:4 gpu:0 tag:worker ]  # trailing\r\n",
     [group(3, 4, 0, tag="worker", host="node07")]),
    ("[]", [group(1, 1)]),
])
def test_machine_file_examples(text, groups):
    assert parse_machine_file(text, "x.mf") == groups


@pytest.mark.parametrize("text, line, column, message", [
    ("[host:all slots:1", 1, 18, "expected ']' to close the '[' at column 1"),
    ("host:all slots:1]", 1, 1, "expected '[' to start a resource group"),
    ("[host:all slots:1 mem:4]", 1, 19, "unknown key 'mem'"),
    ("# c\n[host:all slots:x]", 2, 17, "slots must be a positive whole number, got 'x'"),
    ("[host:all slots:0]", 1, 17, "slots must be a positive whole number, got '0'"),
    ("[host:all gpu:-1]", 1, 15, "gpu must be a whole number, 0 or more, got '-1'"),
    ("0*[host:all slots:1]", 1, 1, "instance count must be at least 1, got 0"),
    ("2 [host:all]", 1, 3, "expected '*' after the count 2"),
    ("[host:all slots:1 slots:2]", 1, 19, "'slots' given twice in one group"),
    ("[host: all]", 1, 7, "missing value after 'host:'"),
    ("[host :all]", 1, 6, "expected ':' right after 'host'"),
    ("[host:all, slots:1]", 1, 10, "unexpected ',' in the value of 'host'"),
    ("[host:all slots:1 /]", 1, 19, "expected key:value, got '/'"),
    ('[tag:"server]', 1, 6, 'unterminated " quote'),
    ("[host:all] [host:all]", 1, 12, "unexpected '[host:all]' after ']'"),
    ("", 1, 1, "the machine file has no resource group"),
    ("# only a comment\n\n", 1, 1, "the machine file has no resource group"),
])
def test_machine_file_errors(text, line, column, message):
    with pytest.raises(ParseError) as info:
        parse_machine_file(text, "standalone_cpu.mf")
    e = info.value
    assert (e.source, e.line, e.column, e.message) == ("standalone_cpu.mf", line, column, message)
    assert e.field == f"standalone_cpu.mf:{line}:{column}"
    assert e.fix
