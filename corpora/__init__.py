"""The corpora that ship with muse, installed as the data package ``muse.corpora``.

One folder per corpus: its data, ``LICENSE``, ``SOURCE``, ``corpus.json`` (the
machine-readable card) and ``README.md``. :mod:`muse.data.shipped` reads them.
"""
