"""Analysis nodes: `.sql` files under the analysis paths, compiled but never run."""

from __future__ import annotations

from headwater.project.definition import Node
from headwater.project.readers.base import Reader


class AnalysisReader(Reader):
    """Adds the analyses of a package."""

    def read(self) -> None:
        for path in self.scope.glob(self.config.analysis_paths, (".sql",)):
            uid = f"analysis.{self.config.name}.{path.stem}"
            self.project.nodes[uid] = Node(
                unique_id=uid, name=path.stem, resource_type="analysis", path=self.scope.rel(path),
                line=1, package=self.config.name, fqn=[self.config.name, "analysis", path.stem],
                raw_sql=self.scope.read_text(path), config={"materialized": "analysis"},
            )  # fmt: skip
