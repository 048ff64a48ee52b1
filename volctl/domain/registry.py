"""The local model registry: one folder per version with a JSON manifest and sha256-checked files.

    <root>/<version>/manifest.json     features, label, data range, variants with metrics
    <root>/<version>/ml.joblib         the fitted scikit-learn pipeline
    <root>/<version>/reference.parquet training-split feature rows (the drift reference)

joblib files are pickles, so loading one is running code: `load` refuses any file whose sha256
differs from the manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volctl.domain import variants
from volctl.domain.errors import ConfigError, ModelIntegrityError, disk_full
from volctl.domain.files import write_atomically, write_bytes_atomically
from volctl.domain.variants import AUTO, LEAD

if TYPE_CHECKING:
    from volctl.domain.model import Scorer

MANIFEST = "manifest.json"
def pipeline_file(variant: str) -> str:
    """Where a variant's fitted scikit-learn pipeline is kept beside its params."""
    return f"{variant}.joblib"
REFERENCE_FILE = "reference.parquet"
REFERENCE_KEY = "reference"  # manifest[REFERENCE_KEY] = {file, sha256}, like every attached file


# A version is a name, never a path: one segment of the registry's own alphabet (training names
# them `20261201-224610-real`, `-synthetic`, `-2`...). Anything else is refused before a file is read.
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ModelNotFound(ConfigError):
    """No such model version or variant in the registry."""


def valid_version(version: str) -> bool:
    return bool(VERSION_NAME.fullmatch(version)) and ".." not in version


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_sha256(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        """Versions, oldest first (names start with a UTC timestamp)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if valid_version(p.name) and not p.is_symlink() and (p / MANIFEST).is_file())

    def latest(self) -> str:
        versions = self.versions()
        if not versions:
            raise ModelNotFound(
                f"no trained model in {self.root}", hint="train one with `volctl model train`"
            )
        return versions[-1]

    def find(self, matches: Callable[[dict[str, Any]], bool]) -> str | None:
        """The newest version whose manifest matches (unreadable manifests never match)."""
        for version in reversed(self.versions()):
            try:
                if matches(self.manifest(version)):
                    return version
            except ConfigError:
                continue
        return None

    def free_version(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`... when a version of that name exists already."""
        name, suffix = base, 1
        while (self.root / name).exists():
            suffix += 1
            name = f"{base}-{suffix}"
        return name

    def folder(self, version: str) -> Path:
        """The version's folder, proven to lie inside the registry (links resolved); ModelNotFound
        for a name that is not a version name or a folder that leads outside."""
        if not isinstance(version, str) or not valid_version(version):
            raise ModelNotFound(f"{version!r} is not a model version name (one name such as "
                                f"20261201-224610-real, no path)", hint=self._known())
        root = self.root.resolve()
        folder = (root / version).resolve()
        if folder.parent != root:
            raise ModelNotFound(f"model version {version!r} leads outside the registry {root}",
                                hint="versions are folders of the registry itself, not links elsewhere")
        if not (folder / MANIFEST).is_file():
            raise ModelNotFound(f"model version {version!r} not found in {self.root}", hint=self._known())
        return folder

    def _known(self) -> str:
        """The hint of a refused name: the newest versions (listed only when a name is refused)."""
        return f"known: {', '.join(self.versions()[-5:]) or 'none'}"

    def manifest(self, version: str) -> dict[str, Any]:
        path = self.folder(version) / MANIFEST
        try:
            document = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelIntegrityError(f"{path} is not valid JSON: {exc}", hint="retrain the model") from exc
        if not isinstance(document, dict) or document.get("version") != version:
            raise ModelIntegrityError(f"{path} does not describe version {version!r}",
                                      hint="a manifest names its own folder; restore it or retrain")
        return document

    def save(self, manifest: dict[str, Any], pipelines: dict[str, Any], reference: Any) -> Path:
        """Write a new version; files first, manifest last, so a half-written version is invisible.
        A variant with `params` is served from them (its sha256 is theirs); a variant's fitted
        pipeline (`pipelines`, by variant) is kept beside them (`file`, `file_sha256`) for
        scikit-learn's own checks."""
        import joblib

        folder = self.root / manifest["version"]
        folder.mkdir(parents=True, exist_ok=False)
        try:
            for variant, pipeline in pipelines.items():
                name, entry = pipeline_file(variant), manifest["variants"][variant]
                joblib.dump(pipeline, folder / name)
                entry["file"], entry["file_sha256"] = name, sha256_of(folder / name)
            reference.to_parquet(folder / REFERENCE_FILE, index=False)
            manifest[REFERENCE_KEY] = {"file": REFERENCE_FILE, "sha256": sha256_of(folder / REFERENCE_FILE)}
            for entry in manifest["variants"].values():
                entry["sha256"] = canonical_sha256(entry["params"]) if entry.get("params") else entry["file_sha256"]
            write_atomically(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        except BaseException as exc:  # a full disk left a 0-byte pipeline in a version folder: none at all now
            shutil.rmtree(folder, ignore_errors=True)
            full = disk_full(exc, self.root) if isinstance(exc, OSError) else None
            if full is not None:
                raise full from exc
            raise
        return folder

    def attach(self, version: str, key: str, name: str, content: bytes) -> Path:
        """Add (or replace) a file of a version, recorded as manifest[key] = {file, sha256}; the
        file is written before the manifest names it."""
        folder = self.folder(version)
        if not valid_version(name):
            raise ValueError(f"{name!r} is not a plain file name")
        write_bytes_atomically(folder / name, content)
        manifest = self.manifest(version)
        manifest[key] = {"file": name, "sha256": hashlib.sha256(content).hexdigest()}
        write_atomically(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        return folder / name

    def attached(self, version: str, key: str) -> Path | None:
        """The verified path of manifest[key]'s file; None when the version has none."""
        entry = self.manifest(version).get(key)
        if not isinstance(entry, dict):
            return None
        path = self.artifact(version, entry)
        if not path.is_file() or sha256_of(path) != entry.get("sha256"):
            raise ModelIntegrityError(f"{path} is missing or does not match its manifest's sha256",
                                      hint="restore it, or recompute it (`volctl drift calibrate`, or retrain)")
        return path

    def verify(self, version: str, variant: str = LEAD) -> str:
        """The verified sha256 of a variant (its params, else its file); ModelIntegrityError on a mismatch."""
        manifest = self.manifest(version)
        entry = manifest.get("variants", {}).get(variant)
        if entry is None:
            raise ModelNotFound(f"model {version} has no variant {variant!r}",
                                hint=f"variants: {', '.join(variants.VARIANTS)}")
        if entry.get("params"):
            actual = canonical_sha256(entry["params"])
            where = f"{version}/{MANIFEST} ({variant} params)"
        else:
            actual, where = self._file_sha(version, entry), f"{version}/{entry.get('file')}"
        if actual != entry.get("sha256"):
            raise ModelIntegrityError(
                f"sha256 does not match the manifest ({actual[:12]}… vs {str(entry.get('sha256'))[:12]}…): "
                f"refusing to load {where}",
                hint="the file was changed after training; retrain or restore it",
            )
        return actual

    def _file_sha(self, version: str, entry: dict[str, Any]) -> str:
        path = self.artifact(version, entry)
        if not path.is_file():
            raise ModelIntegrityError(f"{path} is missing", hint="retrain with `volctl model train`")
        return sha256_of(path)

    def load(self, version: str | None = None, variant: str = LEAD) -> Scorer:
        """A variant of a version (newest when None); "auto" is the manifest's recommended variant
        (a candidate only when its lead over the reference is clear; versions without one: the
        lead candidate). A variant with params loads without scikit-learn and unpickles nothing;
        each carries its version's volatility forecaster (None for versions trained before it)."""
        if variant == AUTO:
            version = version or self.latest()
            variant = self.manifest(version).get("recommended_variant", LEAD)
        if variant not in variants.VARIANTS:
            raise ModelNotFound(f"unknown model variant {variant!r}",
                                hint=f"use one of: {', '.join(variants.CHOICES)}")
        from volctl.domain.forecast import Forecaster  # numpy: only when loading a model
        version = version or self.latest()
        sha = self.verify(version, variant)
        manifest = self.manifest(version)
        features = tuple(manifest["features"])
        entry = manifest["variants"][variant]
        try:
            unpickle = lambda: self._unpickle(version, entry)  # noqa: E731 - a pickle verified above
            scorer: Any = variants.variant(variant).scorer_class().from_entry(variant, entry, version, features, sha,
                                                                              unpickle)
            scorer.forecaster = Forecaster.of(manifest["forecast"], version) if manifest.get("forecast") else None
        except ModelIntegrityError:
            raise
        except Exception as exc:  # verified numbers or a verified file that still fail: a broken artifact
            raise ModelIntegrityError(f"model {version} {variant} does not load: {exc}") from exc
        return scorer

    def load_estimator(self, version: str, variant: str = LEAD) -> Any:
        """A variant's fitted scikit-learn pipeline (for scikit-learn's own checks), its file verified."""
        entry = self.manifest(version)["variants"][variant]
        expected = entry.get("file_sha256", entry.get("sha256"))
        if self._file_sha(version, entry) != expected:
            raise ModelIntegrityError(f"{self.artifact(version, entry)} does not match the manifest's sha256: "
                                      "refusing to unpickle it", hint="the file was changed after training; retrain")
        return self._unpickle(version, entry)

    def _unpickle(self, version: str, entry: dict[str, Any]) -> Any:
        import joblib

        return joblib.load(self.artifact(version, entry))

    def artifact(self, version: str, entry: dict[str, Any]) -> Path:
        """A variant's file: a plain name inside the version's folder, never a path out of it."""
        name = entry.get("file")
        if not isinstance(name, str) or not valid_version(name):
            raise ModelIntegrityError(f"model {version}: artifact name {name!r} is not a file of its folder",
                                      hint="the manifest was edited; restore it or retrain")
        return self.folder(version) / name
