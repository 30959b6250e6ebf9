"""The fleet service's side of provisioning: handover records (BAST) and their chain."""
