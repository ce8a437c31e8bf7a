"""pyiceberg's FileIO for headwater's Iceberg tables on S3: pyiceberg's own `PyArrowFileIO`, with
its S3 filesystem opening output streams lazily (``allow_delayed_open``, as
`headwater.lake.storage.TableLocation.filesystem` does for the data files), so that a small file
(the table metadata, manifest list and manifests every commit writes) is one PutObject instead of
a three-request multipart upload.

pyiceberg builds a FileIO from the catalog's properties wherever it needs one (loading, committing,
creating a table, reading a metadata file), so headwater names this class in the ``py-io-impl``
catalog property (`headwater.lake.iceberg_catalog.io_properties`); this module is imported only
then, by pyiceberg.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pyarrow.fs import FileSystem, S3FileSystem  # noqa: TID253
from pyiceberg.io.pyarrow import PyArrowFileIO  # noqa: TID253
from pyiceberg.typedef import EMPTY_DICT, Properties  # noqa: TID253


class HeadwaterFileIO(PyArrowFileIO):
    def __init__(self, properties: Properties = EMPTY_DICT) -> None:
        super().__init__(properties)
        self._delay_s3_opens()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._delay_s3_opens()

    def _delay_s3_opens(self) -> None:
        inner = self.fs_by_scheme

        @lru_cache
        def fs_by_scheme(scheme: str, netloc: str | None) -> FileSystem:
            filesystem = inner(scheme, netloc)
            if not isinstance(filesystem, S3FileSystem):
                return filesystem
            rebuild, (options,) = filesystem.__reduce__()  # the options pyiceberg set, as pickled
            return rebuild({**options, "allow_delayed_open": True})

        self.fs_by_scheme = fs_by_scheme
