"""A simulated institution's service for data balikan: a library's member registry over HTTPS
with client certificates, keeping only its own numbers. Start it in-process with
`start_institution_sim(...)` or as a process with `python -m simulators.institution`.
"""

from simulators.institution.app import (
    InstitutionFault,
    InstitutionSim,
    InstitutionStats,
    RunningInstitutionSim,
    start_institution_sim,
)

__all__ = [
    "InstitutionFault",
    "InstitutionSim",
    "InstitutionStats",
    "RunningInstitutionSim",
    "start_institution_sim",
]
