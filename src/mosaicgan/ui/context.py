"""What every tab shares: the workspace, the models the server knows, the jobs running."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import api
from .running import Running
from .workspace import Workspace

SHIPPED = "default"


@dataclass
class Context:
    workspace: Workspace
    model_sources: list[str] = field(default_factory=list)  # --model, as given
    runs: Path | None = None  # --runs: a folder searched for runs and exported models
    running: Running = field(default_factory=Running)

    def models(self) -> list[api.ModelInfo]:
        """The shipped restorer, each --model, and every model under --runs (read again
        each time: a run trained while the server runs shows up)."""
        found = [api.describe_model(SHIPPED)]
        found += [api.describe_model(source) for source in self.model_sources]
        if self.runs is not None and self.runs.is_dir():
            found += api.find_models(self.runs)
        seen: set[str] = set()
        unique = []
        for info in found:
            key = str(Path(info.source).resolve()) if info.source != SHIPPED else SHIPPED
            if key not in seen:
                seen.add(key)
                unique.append(info)
        return unique

    def choices(self, task: str) -> list[tuple[str, str]]:
        """(label, source) of the models that do ``task`` (restore or translate)."""
        return [(f"{m.name} ({m.kind}, {m.size} px, {m.steps} steps)", m.source)
                for m in self.models() if m.task == task]
