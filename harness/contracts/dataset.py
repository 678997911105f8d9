"""The dataset contract: a reader that loads a :class:`~harness.data.Corpus`.

A dataset component's factory takes the component's options (a folder, file names, an
encoding, ...) and returns a reader; nothing is read until :meth:`DatasetReader.load`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from harness.data import Corpus


@runtime_checkable
class DatasetReader(Protocol):
    """Reads one corpus: both splits over one label space.

    What the corpus it returns must satisfy (``harness.testing.check_dataset`` checks each):

    * ``label_names``: non-empty, unique strings; a document's labels are indices into it,
      sorted, without repeats.
    * ``train`` and ``test``: non-empty lists of :class:`~harness.data.Document`, with ids
      unique across both splits and text as ``str``.
    * Deterministic: two loads with the same options give the same documents in the same
      order (label indices must not depend on file order or hashing).
    * Bad input names its place: a malformed record raises
      :class:`~harness.errors.InputError` with the file and 1-based line (or, with a
      ``skip_bad_lines`` option, is skipped and counted in ``Corpus.skipped`` by reason);
      missing files raise :class:`~harness.errors.DatasetNotFoundError` saying where the
      reader looked and what it expected. Never a bare ``KeyError`` or ``UnicodeError``.
    * ``propensity_a`` / ``propensity_b``: the propensity constants of this corpus when the
      literature fixes them (Jain et al., 2016), else the defaults 0.55 and 1.5.
    * ``name``: the corpus's own name (its folder's, or a ``name`` option), which tables
      show; ``meta`` may hold counts for ``data stats`` (``dropped``, ``collection``).
    """

    def load(self, progress: bool = True) -> Corpus:
        """Read the files and return the corpus.

        :param progress: show a progress bar on stderr while reading large files.
        :returns: both splits over one label space, as described above.
        :raises DatasetNotFoundError: the files are not where the options say.
        :raises InputError: a malformed record (file and line named).
        """
        ...
