"""Read a project folder, and its installed packages, into a `Project`: the nodes of the graph.

`ProjectReader` only orders the work; each kind of resource has its reader in
`headwater.project.readers` (macros, properties files and sources, models, seeds, snapshots,
tests, analyses). The project file itself is read by `headwater.project.project_file`.

Reading is strict: unknown keys, wrong types and duplicate names are errors that point at
``file:line`` and suggest the fix. A failure in one file or node is a problem of the load
(`Project.problems`), not an exception: reading goes on. Rendering SQL (Jinja) and resolving
dependencies happen later, in `headwater.sql.compiler`.
"""

from __future__ import annotations

from pathlib import Path

from headwater.project.definition import Project, ProjectConfig, Target
from headwater.project.packages import check_installed, installed_packages
from headwater.project.readers.analyses import AnalysisReader
from headwater.project.readers.base import ReadScope
from headwater.project.readers.data_tests import DataTestReader
from headwater.project.readers.macros import MacroReader
from headwater.project.readers.models import ModelReader
from headwater.project.readers.properties import PropertiesReader
from headwater.project.readers.seeds import SeedReader
from headwater.project.readers.snapshots import SnapshotReader
from headwater.project.readers.sources import SourceReader
from headwater.project.readers.streams import StreamReader
from headwater.project.test_specs import ExpectationParser, StreamParser


class ProjectReader:
    """Builds a `Project` from the files of a project folder, and of its installed packages.

    ``parse_expectation`` validates `expectations:` entries; the quality layer provides it
    (`headwater.quality.expectations.parse_expectation`), and a project that declares
    expectations cannot be read without it. ``parse_stream`` does the same for `streams/*.yml`
    (`headwater.streams.spec.parse_stream`).
    """

    def __init__(
        self,
        config: ProjectConfig,
        target: Target,
        *,
        root: Path | None = None,
        base: Path | None = None,
        parent: ProjectReader | None = None,
        parse_expectation: ExpectationParser | None = None,
        parse_stream: StreamParser | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self.parent = parent
        self.project: Project = parent.project if parent else Project(config=config)
        root = root or Path(config.root)
        self.scope = ReadScope(
            config=config,
            target=target,
            root=root,
            base=base or root,
            project=self.project,
            root_config=parent.config if parent else None,
            parse_expectation=parse_expectation,
            parse_stream=parse_stream,
        )

    def read(self) -> Project:
        scope, config = self.scope, self.config
        scope.guard(lambda: scope.check_folder_tree(config.models, config.model_paths, "models"))
        scope.guard(lambda: scope.check_folder_tree(config.seeds, config.seed_paths, "seeds"))
        MacroReader(scope).read()
        tests = DataTestReader(scope)
        properties = PropertiesReader(scope, SourceReader(scope, tests)).read()
        ModelReader(scope, properties, tests).read()
        SeedReader(scope, properties, tests).read()
        scope.guard(lambda: SnapshotReader(scope, properties, tests).read())
        tests.read_singular()
        AnalysisReader(scope).read()
        StreamReader(scope).read()
        scope.guard(lambda: properties.check_used(self.project))
        if self.parent is None:
            self._read_packages()
        return self.project

    def _read_packages(self) -> None:
        root = self.scope.root
        packages = self.scope.guard(lambda: installed_packages(root, self.config, self.target))
        packages = packages or []
        problem = check_installed(root, self.config, packages)
        if problem is not None:
            self.project.problems.append(problem)
        self.config.packages = [p.name for p in packages]
        for package in packages:
            self.config.package_vars[package.name] = dict(package.config.vars)
            reader = ProjectReader(
                package.config,
                self.target,
                root=root,
                base=package.path,
                parent=self,
                parse_expectation=self.scope.parse_expectation,
                parse_stream=self.scope.parse_stream,
            )
            reader.read()
