"""One reader per kind of resource of a project, as dbt's `parser/` package has: `macros`,
`properties` (properties files, with `sources`), `models`, `seeds`, `snapshots`, `data_tests`
(generic, expectation and singular tests), `analyses`. They share a `base.ReadScope` per package;
`headwater.project.loader.ProjectReader` runs them in order.
"""
