"""newsbot: news in, a checked bilingual brief out."""

__version__ = "0.1.0"
