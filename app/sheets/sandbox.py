"""Run engine work in a child process with memory and time limits.

calamine is native code: a damaged or hostile file can make it ask for terabytes and abort,
or spin. Run in a forked child, such a file costs the child, never the caller: an abort,
a kill or a memory error comes back as a SheetError with a message for the user.
"""

import faulthandler
import gc
import logging
import multiprocessing
import os
import resource
import signal
import tempfile
import time
import traceback

from .errors import DamagedFile, EnvironmentFault, SheetError, Stopped, TimedOut, TooLarge

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25  # seconds between progress messages from the child
_sender = None  # the child's end of the pipe, set in the child only


def bail_out(error):
    """In a child: report `error` to the parent and end the process at once, from any thread."""
    _sender.send(("error", error))
    _sender.close()
    os._exit(0)


def current_bail_out():
    """bail_out when running in a sandboxed child, else None."""
    return bail_out if _sender is not None else None


class EngineCrash(RuntimeError):
    """An unexpected exception inside the child: a bug, reported with its traceback."""


def in_folder(folder, function, *args, **kwargs):
    """function(*args, **kwargs) with the temporary files it makes in `folder`: for
    run_isolated(in_folder, folder, function, ...), whose child may be killed before it
    can remove them; the caller removes the folder."""
    tempfile.tempdir = folder
    return function(*args, **kwargs)


def run_isolated(
    function, *args, memory_bytes=None, seconds=None, progress=None, check=None, **kwargs
):
    """Call function(*args, **kwargs) in a forked child and return its result.

    `progress(done, total)`, if given, is passed to the function as `progress=` and
    called here in the parent as the child reports. `check()`, if given, is called here
    about every 50 ms while the child works, whether or not it reports: whatever either
    raises kills the child and propagates (the caller's way to stop the work at once).
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child,
        args=(sender, function, args, kwargs, memory_bytes, progress is not None),
        daemon=True,
    )
    child.start()
    sender.close()
    deadline = time.monotonic() + seconds if seconds else None
    try:
        while True:
            if check is not None:
                check()
            if receiver.poll(0.05):
                try:
                    kind, *payload = receiver.recv()
                except EOFError:  # the child died without a word
                    break
                if kind == "progress":
                    progress(*payload)
                    continue
                child.join()
                if kind == "result":
                    return payload[0]
                if kind == "error":
                    raise payload[0]
                raise EngineCrash(payload[0])
            if not child.is_alive() and not receiver.poll():
                break
            if deadline and time.monotonic() > deadline:
                child.kill()
                raise TimedOut(
                    f"Reading the file took longer than {seconds:.0f} seconds and was stopped. "
                    "The server may be busy: try again in a few minutes, or with a smaller file."
                )
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    raise death_error(child.exitcode)


def death_error(exitcode):
    if exitcode in (-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT):
        # Not the file's doing as far as we know: the kernel's out-of-memory killer, or
        # someone stopping the process. Blaming the file would mislead.
        logger.warning("The engine's child process was killed by signal %d", -exitcode)
        return Stopped(
            "The conversion was stopped before it finished: the server ran out of memory "
            "or time for it, or an operator stopped it. Please try again later, or try a "
            "smaller file."
        )
    if exitcode in (-signal.SIGSEGV, -signal.SIGBUS):
        return DamagedFile("The file could not be read: it is damaged or malformed.")
    # An abort is how native code answers a failed allocation.
    return TooLarge(
        "The file could not be read within the memory Sheetport allows: it is damaged, "
        "or too large once unpacked."
    )


def _child(sender, function, args, kwargs, memory_bytes, report_progress):
    global _sender
    _sender = sender
    faulthandler.disable()  # a native abort here is expected and reported by the parent
    # Rows hold no reference cycles, and this process is short-lived and memory-capped:
    # the cycle collector would only spend time (about 8% of a conversion) finding nothing.
    gc.disable()
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if report_progress:
        last = [0.0]

        def progress(done, total):
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or done >= total:
                last[0] = now
                sender.send(("progress", done, total))

        kwargs = {**kwargs, "progress": progress}
    try:
        message = ("result", function(*args, **kwargs))
    except (SheetError, EnvironmentFault) as error:
        message = ("error", error)
    except MemoryError:
        message = ("error", TooLarge("The file needs more memory than Sheetport allows."))
    except BaseException:  # noqa: BLE001 - the parent decides what a crash means
        message = ("crash", traceback.format_exc())
    try:
        sender.send(message)
    finally:
        sender.close()
