"""Install a project's packages, as `dbt deps` does (dbt 1.8+).

What it reads
    `dependencies.yml` (when it has `packages:`) or else `packages.yml`, in the project folder; a
    list under `packages:` whose entries are one of four kinds::

        packages:
          - package: dbt-labs/dbt_utils         # hub: `version:` is "1.2.3", ">=1.0.0,<2.0.0"
            version: [">=1.0.0", "<2.0.0"]      #   or a list of ranges; `install_prerelease: true`
          - git: "https://{{ env_var('DBT_ENV_SECRET_GIT_TOKEN') }}@github.com/org/repo.git"
            revision: v1.2.0                    # branch, tag or commit (default: the remote HEAD)
            subdirectory: packages/core         # optional; `warn-unpinned: false` too
          - tarball: https://example.com/pkg.tar.gz
            name: pkg
          - local: ../shared_macros              # relative to the project folder

    `packages.yml` may use `{{ env_var('X') }}`, `{{ env_var('X', 'default') }}` and
    `{{ var('x', 'default') }}` (a Jinja sandbox offering nothing else). As in dbt,
    `dependencies.yml` is not rendered, so Jinja there is an error. Values of environment
    variables named `DBT_ENV_SECRET_*` or `HEADWATER_SECRET_*` are registered with
    `headwater.secrets`, so every message masks them.

How versions are chosen
    Each package's requirements are gathered from the project and, transitively, from what each
    chosen package requires (hub packages: the hub's metadata for that version; the others: their
    own `packages.yml` / `dependencies.yml`). A hub package gets the highest version that
    satisfies every range (semver; prereleases only with `install_prerelease: true` or a range
    that names one); this repeats until nothing changes. There is no backtracking (dbt has none
    either): ranges that no version satisfies are an error naming both requirers. `local:` paths
    of transitive packages are relative to the root project, as in dbt.

The lock
    `package-lock.yml` is written like dbt 1.7+ writes it, keys sorted, e.g.::

        packages:
          - name: dbt_utils
            package: dbt-labs/dbt_utils
            version: 1.3.0
          - git: https://{{ env_var('DBT_ENV_SECRET_GIT_TOKEN') }}@github.com/org/repo.git
            name: core
            revision: 0f6b5f3c2d...          # the commit SHA the revision resolved to
            subdirectory: packages/core
          - name: pkg
            tarball: https://example.com/pkg.tar.gz
          - local: ../shared_macros
            name: shared_macros
        sha1_hash: 3f0c...

    `sha1_hash` is dbt's: the sha1 of the sorted JSON forms of the package entries (see
    `lock_hash`), so a lock written by dbt is reused here and the other way round. When the lock
    exists and its hash matches, exactly the locked packages are installed (no hub resolution);
    `upgrade=True` (`dbt deps --upgrade`) ignores it and `lock_only=True` (`dbt deps --lock`)
    writes it without installing. Git and tarball URLs are stored as written, with their
    `{{ env_var(...) }}` unrendered; credentials written literally in a URL are masked (`***`),
    and a later install from that lock takes the real URL from packages.yml again.

How packages are installed
    Into `packages-install-path` (dbt_project.yml / headwater.yml; default `dbt_packages`), one
    folder per package named by the `name:` in the package's own dbt_project.yml (dbt names a
    `tarball:` package's folder after the entry's `name:` instead). Everything is downloaded
    first; then each package is copied into a hidden folder beside its final place and renamed
    into it, so a failed download or copy leaves the previous install untouched. `local:`
    packages are symlinks, as in dbt (a copy where symlinks are not allowed). Folders of packages
    no longer required are removed; plain files are left alone. Git runs as the `git` command
    (no shell, `--` before URLs, no prompts); downloads use urllib, and archives are refused when
    a member has an absolute path, `..` or a link leading out of the package.

Where it lives
    `versions` (semver, ranges, `pick_version`), `specs` (reading and rendering packages.yml /
    dependencies.yml, `PackageSpec`, `lock_hash`), `fetch` (HTTP, git, tarballs, safe
    extraction), `resolve` (choosing versions: the `deps` session), `result` (`DepsResult`,
    `InstalledPackage`) and `installer` (`install`: staging, atomic install, package-lock.yml).
    This module re-exports their public names.
"""

from headwater.project.deps.fetch import GIT_TIMEOUT, HTTP_ATTEMPTS, HTTP_TIMEOUT, PackageFetchError
from headwater.project.deps.installer import DEFAULT_INSTALL_PATH, install
from headwater.project.deps.resolve import DEFAULT_HUB_URL, MAX_ROUNDS, Progress
from headwater.project.deps.result import DepsResult, InstalledPackage
from headwater.project.deps.specs import (
    ENTRY_KEYS,
    LOCK_FILE,
    LOCK_HASH_KEY,
    SOURCE_KEYS,
    SPEC_FILES,
    Kind,
    PackageSpec,
    lock_hash,
    public_url,
    read_package_specs,
)
from headwater.project.deps.versions import Version, VersionRange, parse_versions, pick_version

__all__ = [
    "DEFAULT_HUB_URL",
    "DEFAULT_INSTALL_PATH",
    "ENTRY_KEYS",
    "GIT_TIMEOUT",
    "HTTP_ATTEMPTS",
    "HTTP_TIMEOUT",
    "LOCK_FILE",
    "LOCK_HASH_KEY",
    "MAX_ROUNDS",
    "SOURCE_KEYS",
    "SPEC_FILES",
    "DepsResult",
    "InstalledPackage",
    "Kind",
    "PackageFetchError",
    "PackageSpec",
    "Progress",
    "Version",
    "VersionRange",
    "install",
    "lock_hash",
    "parse_versions",
    "pick_version",
    "public_url",
    "read_package_specs",
]
