# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn SIGTERM and SIGINT into an exception, so ``try``/``finally`` clean-up runs.

An AWX cancel sends SIGTERM to the process group of ``ansible-playbook``; the module process
and the commands it started (``podman build``) are in that group and each get the signal. Python's
default for SIGTERM is to die on the spot, leaving temp dirs, auth files and build containers.
After ``install_termination_handler()`` the signal raises ``Terminated`` in the module instead::

    install_termination_handler()
    try:
        with private_tempdir() as work:
            ...
    except Terminated as exc:
        module.fail_json(msg=str(exc))

``Terminated`` is a ``BaseException`` (like ``KeyboardInterrupt``): ``except Exception`` handlers,
including the one in ``AnsibleModule.run_command`` that would turn it into "Error executing
command", let it pass, while ``finally`` blocks and context managers run. Once it has been raised,
further SIGTERM/SIGINT are ignored so that the clean-up itself is not cut short (AWX follows a
cancel with SIGKILL when the job does not end in time).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import signal

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except (ValueError, AttributeError):
        return "signal %d" % signum


class Terminated(BaseException):
    """The process got SIGTERM or SIGINT. ``signum`` is the signal; ``str()`` is one line."""

    def __init__(self, signum):
        self.signum = signum
        super(Terminated, self).__init__(
            "Stopped by %s (the job was cancelled or interrupted); what this task had started was cleaned up"
            % signal_name(signum))


class _State(object):
    raised = False
    previous = {}


def _handler(signum, frame):
    if _State.raised:
        return  # already unwinding: let the clean-up finish
    _State.raised = True
    raise Terminated(signum)


def install_termination_handler(signals=DEFAULT_SIGNALS):
    """Make each of ``signals`` raise ``Terminated`` (once) in this process.

    Call it in the main thread (Python runs signal handlers there). Calling it again is harmless.
    Returns a function that puts the previous handlers back.
    """
    _State.raised = False
    for signum in signals:
        previous = signal.signal(signum, _handler)
        if previous is not _handler:
            _State.previous[signum] = previous

    def restore():
        for signum in signals:
            if signum in _State.previous:
                signal.signal(signum, _State.previous.pop(signum))
        _State.raised = False

    return restore
