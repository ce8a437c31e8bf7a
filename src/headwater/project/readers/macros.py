"""Macro files: `.sql` under the macro paths and `<test path>/generic/`, kept as text for the
renderer (`Project.macro_files`; the root project's also in `Project.macros`)."""

from __future__ import annotations

from functools import partial

from headwater.project.readers.base import Reader


class MacroReader(Reader):
    """Collects the macro files of a package."""

    def read(self) -> None:
        scope = self.scope
        for path in scope.glob([*self.config.macro_paths, *scope.generic_test_dirs()], (".sql",)):
            text = scope.guard(partial(scope.read_text, path))
            if text is None:
                continue
            if scope.root_config is None:
                self.project.macros[scope.rel(path)] = text
            self.project.macro_files.append((self.config.name, scope.rel(path), text))
