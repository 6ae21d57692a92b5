"""Calibrate a shop's regions: the Qianniu window with the configured regions drawn on it, and what OCR reads
in each. Run on the PC where Qianniu is open; the admin shows the picture beside the shop's settings."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from customer_service.desktop.geometry import REGION_NAMES, RegionError
from customer_service.desktop.platform import DesktopError
from customer_service.desktop.services import desktop_calibrate
from customer_service.models import Shop


class Command(BaseCommand):
    help = (
        "Capture the shop's Qianniu window with its configured regions (conversation list, chat header, "
        "transcript, input box, send button) drawn on it, read each with OCR and keep the picture as the shop's "
        "latest calibration (admin: Customer service › Captures › the shop). Change the regions in the shop's "
        "settings until each region reads what it should, then run this again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--shop", required=True, help="the shop's name")
        parser.add_argument("--out", type=Path, help="also write the picture to this PNG file")

    def handle(self, *args, shop, out=None, **options):
        found = Shop.objects.filter(name=shop).first()
        if found is None:
            raise CommandError(f"No shop named {shop!r}.")
        if not found.qianniu_title:
            raise CommandError(f"{found.name} has no Qianniu window title: set it on the shop's page first.")
        try:
            record = desktop_calibrate(shop=found)
        except RegionError as exc:
            raise CommandError(f"The shop's regions cannot be read: {exc}") from None
        except DesktopError as exc:
            raise CommandError(f"Cannot use the screen here: {exc}") from None
        if record is None:
            raise CommandError(f"No window titled {found.qianniu_title!r} is open on this screen.")
        readings = record.readings
        self.stdout.write(f"Window {found.qianniu_title!r} at {readings['window']} (x, y, width, height)")
        for name in REGION_NAMES:
            where = readings["regions"][name]
            note = "  OUTSIDE THE WINDOW" if name in readings["outside"] else ""
            text = readings["readings"].get(name, "").replace("\n", " | ") or "(nothing read)"
            self.stdout.write(f"{name:18} {where}{note}\n    {text}")
        if out is not None:
            with record.image.open("rb") as source:
                out.write_bytes(source.read())
            self.stdout.write(f"Picture written to {out}")
        self.stdout.write(self.style.SUCCESS(f"Saved as the latest calibration of {found.name} (capture {record.pk})."))
