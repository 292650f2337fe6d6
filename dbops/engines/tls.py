"""Build `ssl.SSLContext`s from an instance's effective TLS mode and the PEM material of its TLS Secret.

Python's ssl module loads client certificates only from files, so the certificate and key are written to a private
temporary directory (0700, files 0600) that is removed as soon as they are loaded (behaviour.md 6.2); the context
keeps them in memory. A missing CA where verification needs one falls back to the system trust store (api.md 5.3);
unparsable PEM raises `TLSConfigError`, which the instance controller reports with reason `TLSConfigError`.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from dbops.engines.connection import TLSMaterial, TLSMode


class TLSConfigError(Exception):
    """The TLS material cannot be used (unparsable PEM, a key without a certificate)."""


def client_ssl_context(mode: TLSMode, material: TLSMaterial) -> ssl.SSLContext | None:
    """The context for `mode`, or None when the mode means plaintext only.

    `allow` and `prefer` try TLS without verification (libpq semantics); the plaintext fallback is the driver's.
    """
    if mode is TLSMode.DISABLE:
        return None
    if mode.verifies_chain:
        context = ssl.create_default_context()
        if material.ca_pem:
            try:
                context.load_verify_locations(cadata=material.ca_pem)
            except (ssl.SSLError, ValueError) as error:
                raise TLSConfigError(f"the CA certificate is not valid PEM: {error.__class__.__name__}") from None
        context.check_hostname = mode is TLSMode.VERIFY_FULL
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if material.cert_pem and material.key_pem:
        _load_client_certificate(context, material.cert_pem, material.key_pem)
    return context


def _load_client_certificate(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    with tempfile.TemporaryDirectory(prefix="dbops-tls-") as directory:
        os.chmod(directory, 0o700)
        cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
        for path, text in ((cert_file, cert_pem), (key_file, key_pem)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, ValueError) as error:
            raise TLSConfigError(
                f"the client certificate or key is not valid PEM: {error.__class__.__name__}"
            ) from None
