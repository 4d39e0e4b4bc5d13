"""The fixtures work: a card cut and read back through the real link."""

from _spacesim import ARRIVAL, DEPARTURE, ENC1


async def test_cut_and_read_back(desk, space):
    cut = await desk.encode(ENC1, ["Pitch 12"], ARRIVAL, DEPARTURE)
    card = await desk.read(ENC1)
    assert card.rooms == ("Pitch 12",)
    assert card.valid is True
    assert cut.serials == (space.card_on(ENC1.encode()).serial.decode(),)
