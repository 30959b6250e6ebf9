"""A simulated Dukcapil upstream: login, a synthetic population, every Juknis outcome, a quota,
and faults on demand (slow, 5xx, dropped connection, garbage body).

The real API is confidential; this one is a plausible JSON API that the gateway's
`dukcapil-http` adapter speaks. Start it in-process with `start_dukcapil_sim(...)` or as a
process with `python -m simulators.dukcapil`.
"""

from simulators.dukcapil.app import RunningDukcapilSim, start_dukcapil_sim
from simulators.dukcapil.faults import Fault, FaultKind
from simulators.dukcapil.population import Population, SimUser

__all__ = [
    "Fault",
    "FaultKind",
    "Population",
    "RunningDukcapilSim",
    "SimUser",
    "start_dukcapil_sim",
]
