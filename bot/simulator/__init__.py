"""A loopback simulator of the EvoLink video API (``wan2.7-text-to-video``).

It follows docs/evolink-api.md (what the project knows of the API, and where each fact comes
from) on its own: it imports nothing from the rest of ``bot/``, and nothing in the bot imports
it, so a misreading of the API in the client is caught here instead of being copied
(tests/test_simulator_package.py checks both). Only the standard library and aiohttp are used.

One module per job:
  rules.py      what a create body may hold (the simulator's own reading of the limits)
  tasks.py      the task clock: pending → processing → completed | failed, answers, credits
  profiles.py   how a running task reports progress, and how far its run time strays from
                its estimate
  faults.py     fault rules that hit single requests (errors, drops, delays, bad JSON, files)
  switches.py   lasting misbehaviours (failed tasks, odd charges, idempotency, batch, expiry)
                and the prompt markers that choose one for one task
  routes.py     the API: create, query, batch, credits, result files
  control.py    the ``/_sim/...`` control endpoints (no auth)
  callbacks.py  sending a terminal task to its ``callback_url``, with retries
  responses.py  JSON answers and EvoLink's error bodies
  server.py     ``Simulator``: the HTTP server, auth, rate limit and recording around them
  __main__.py   ``python -m bot.simulator`` (``--help`` lists every fault)

Time is virtual: a task's state is computed from ``clock()`` against its creation time, so tests
inject a fake clock and move it forward instead of sleeping.

Run it by hand with ``python -m bot.simulator --port 8787`` and point the bot's EvoLink base URL
at the printed address. Magic markers in a prompt drive a whole bot from outside:
``[[fail:content_policy_violation]]`` ends the task failed with that code, ``[[never]]`` keeps it
processing forever, ``[[used:lower]]`` (or ``higher``, ``missing``, ``negative``, ``absurd``, or a
number such as ``[[used:3]]``) makes the finished task report that ``usage.credits_used``,
``[[reserved:...]]`` does the same for the create answer's ``usage.credits_reserved``,
``[[progress:s-curve]]`` (or another profile of profiles.py) reports progress that way and
``[[runtime:1.67]]`` makes the task run 1.67 times the time it announces.
``/_sim/...`` control endpoints (no auth) inject faults and finish tasks.
"""

from bot.simulator.callbacks import CallbackAttempt
from bot.simulator.faults import FaultRule, Faults
from bot.simulator.rules import MODEL
from bot.simulator.server import RecordedRequest, Simulator
from bot.simulator.switches import BILLING_MODES, Switches
from bot.simulator.tasks import DEFAULT_PRICES, TASK_ERROR_MESSAGES, SimTask

__all__ = [
    "BILLING_MODES",
    "DEFAULT_PRICES",
    "MODEL",
    "TASK_ERROR_MESSAGES",
    "CallbackAttempt",
    "FaultRule",
    "Faults",
    "RecordedRequest",
    "SimTask",
    "Simulator",
    "Switches",
]
