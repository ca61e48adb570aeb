"""Generate a CA institution's root and issuing CA (certificates.services.ca_hierarchy_create).

For operators, after the CA was added in the admin:

    manage.py ca_init --ca nanyue     # one CA; refuses if it already has its hierarchy
    manage.py ca_init --all           # every active CA that has none yet

A CA's hierarchy is generated once: its root is what relying parties trust, so a second root
would split the CA in two. The command prints the root's SHA-256 fingerprint and subject, for
the operator to record and publish. The issuing CA's CRL URL comes from YQ_PKI_BASE_URL,
which must therefore be the real public address before this runs.
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from certificates.models import CACertificate, CAInstitution
from certificates.services import ca_crl_url, ca_hierarchy_create


def colon_hex(hex_digest: str) -> str:
    """AB:CD:… — the form `openssl x509 -fingerprint -sha256` prints."""
    upper = hex_digest.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


class AlreadyInitialized(Exception):
    pass


class Command(BaseCommand):
    help = (
        "Generate the root CA and issuing CA of a CA institution that has none "
        "(--ca CODE), or of every active CA institution that has none (--all)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--ca", metavar="CODE", help="the CA institution's code (代码)")
        which.add_argument(
            "--all",
            action="store_true",
            help="every active CA institution without a root and issuing CA",
        )

    def handle(self, *args, **options) -> None:
        if options["all"]:
            self._all()
        else:
            self._one(options["ca"])

    def _one(self, code: str) -> None:
        if not CAInstitution.objects.filter(code=code).exists():
            known = ", ".join(CAInstitution.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"No CA institution with code {code!r} (known codes: {known}).")
        try:
            root, issuing = self._create(code)
        except AlreadyInitialized as exc:
            raise CommandError(str(exc)) from None
        self._report(root, issuing)

    def _all(self) -> None:
        pending = list(
            CAInstitution.objects.filter(is_active=True, certificates__isnull=True)
            .distinct()
            .order_by("sort_order", "id")
            .values_list("code", flat=True)
        )
        if not pending:
            self.stdout.write("Every active CA institution already has its root and issuing CA.")
            return
        for code in pending:
            try:
                root, issuing = self._create(code)
            except AlreadyInitialized as exc:  # initialized meanwhile by another run
                self.stdout.write(f"Skipped: {exc}")
                continue
            self._report(root, issuing)

    def _create(self, code: str) -> tuple[CACertificate, CACertificate]:
        """Generate under a lock on the CA row: two runs for one CA cannot both generate."""
        try:
            with transaction.atomic():
                ca = CAInstitution.objects.select_for_update().get(code=code)
                if ca.certificates.exists():
                    root = ca.certificates.filter(role=CACertificate.Role.ROOT).first()
                    raise AlreadyInitialized(self._already(ca, root))
                return ca_hierarchy_create(ca=ca)
        except IntegrityError:
            # The unique (ca, role) constraint: another run stored a hierarchy first.
            ca = CAInstitution.objects.get(code=code)
            root = ca.certificates.filter(role=CACertificate.Role.ROOT).first()
            raise AlreadyInitialized(self._already(ca, root)) from None

    @staticmethod
    def _already(ca: CAInstitution, root: CACertificate | None) -> str:
        if root is None:
            return (
                f"CA {ca.code} ({ca.name}) already has CA certificates; refusing to generate "
                "another hierarchy."
            )
        return (
            f"CA {ca.code} ({ca.name}) already has its root CA "
            f"(SHA-256 {colon_hex(root.sha256_fingerprint)}); refusing to generate another."
        )

    def _report(self, root: CACertificate, issuing: CACertificate) -> None:
        ca = root.ca
        self.stdout.write(
            self.style.SUCCESS(f"Generated the root CA and issuing CA of {ca.code} ({ca.name}).")
        )
        self.stdout.write(f"  root subject:              {root.subject}")
        self.stdout.write(f"  root SHA-256 fingerprint:  {colon_hex(root.sha256_fingerprint)}")
        self.stdout.write(
            f"  root valid:                {root.not_before:%Y-%m-%d} – {root.not_after:%Y-%m-%d}"
        )
        self.stdout.write(f"  issuing CA subject:        {issuing.subject}")
        self.stdout.write(
            f"  issuing CA valid:          {issuing.not_before:%Y-%m-%d} – "
            f"{issuing.not_after:%Y-%m-%d}"
        )
        # The CRL distribution point written into the issuing CA (the root's CRL).
        self.stdout.write(
            f"  root CRL URL:              {ca_crl_url(ca=ca, role=CACertificate.Role.ROOT)}"
        )
