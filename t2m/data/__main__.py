"""python -m t2m.data [--write]: build the arith evaluation splits and compare them with (or write
them into) t2m/data/splits/. See `t2m.data.arith` for how they are built."""

from t2m.data.arith import main

main()
