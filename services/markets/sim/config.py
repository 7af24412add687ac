"""Re-export of the simulator's configuration, which lives in :mod:`utils.sim_config` (config
must not import venue packages)."""

from utils.sim_config import SimConfig

__all__ = ["SimConfig"]
