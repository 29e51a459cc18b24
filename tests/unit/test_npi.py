import pytest

from telehealth.auth.npi import npi_is_valid, npi_with_check_digit


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126"])
def test_published_example_npis_pass_the_luhn_check(npi):
    assert npi_is_valid(npi)


@pytest.mark.parametrize("npi", ["1234567890", "123456789", "12345678931", "abcdefghij", ""])
def test_a_wrong_check_digit_or_shape_fails(npi):
    assert not npi_is_valid(npi)


def test_completing_nine_digits_gives_a_valid_npi():
    assert npi_with_check_digit("123456789") == "1234567893"
