import pytest

from orders import pricing
from tests.factories import PackageFactory

pytestmark = pytest.mark.django_db


def test_new_certificate_price_is_package_years_plus_extra_seats_years():
    package = PackageFactory(price_per_year_fen=300_00, min_years=1, max_years=3)

    assert pricing.new_certificate_price_fen(package=package, years=2, extra_seats=3) == (
        300_00 * 2 + 3 * 100_00 * 2
    )


def test_years_the_package_does_not_offer_are_refused():
    package = PackageFactory(min_years=1, max_years=3)

    with pytest.raises(pricing.PriceError):
        pricing.new_certificate_price_fen(package=package, years=4, extra_seats=0)


@pytest.mark.parametrize(
    ("seats", "years", "fen"), [(1, 1, 100_00), (1, 5, 500_00), (10, 5, 5000_00), (5, 2, 1000_00)]
)
def test_seat_topup_is_100_yuan_per_seat_per_year(seats, years, fen):
    assert pricing.seat_topup_price_fen(seats=seats, years=years) == fen


@pytest.mark.parametrize(("seats", "years"), [(0, 1), (1, 0), (1, 6)])
def test_seat_topup_refuses_zero_seats_and_years_outside_1_to_5(seats, years):
    with pytest.raises(pricing.PriceError):
        pricing.seat_topup_price_fen(seats=seats, years=years)
