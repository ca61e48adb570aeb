"""Prices in integer fen. 100 CNY per seat per year; the package includes one seat."""

from certificates.models import MAX_YEARS, Package

SEAT_PRICE_PER_YEAR_FEN = 100_00


class PriceError(ValueError):
    pass


def _check_years(years: int, allowed: range) -> None:
    if years not in allowed:
        raise PriceError(f"证书有效期须为 {allowed.start}–{allowed.stop - 1} 年")


def new_certificate_price_fen(*, package: Package, years: int, extra_seats: int) -> int:
    _check_years(years, package.years_offered)
    if extra_seats < 0:
        raise PriceError("额外授权员工数量不能为负数")
    return package.price_per_year_fen * years + extra_seats * SEAT_PRICE_PER_YEAR_FEN * years


def seat_topup_price_fen(*, seats: int, years: int) -> int:
    _check_years(years, range(1, MAX_YEARS + 1))
    if seats < 1:
        raise PriceError("新增授权数量至少为 1")
    return seats * SEAT_PRICE_PER_YEAR_FEN * years
