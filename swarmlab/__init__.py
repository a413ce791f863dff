"""swarmlab: learn Docker Swarm networking by doing it for real."""
from .cluster import Cluster, connect
from .doctor import doctor
from .errors import CommandError, LabError, SwarmlabError
from .fix import fix_gwbridge
from .lab import Lab
from .result import Result
from .transport.recording import Recorder

__version__ = "0.1.0"
__all__ = ["connect", "Cluster", "doctor", "fix_gwbridge", "Lab", "Recorder", "Result", "SwarmlabError", "LabError", "CommandError", "__version__"]
