"""Contracts shared by every side: NIK rules, outcomes, data elements. Pure, no I/O."""
