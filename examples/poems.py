"""Write Chinese regulated verse and English quatrains with hard form constraints.

    python examples/poems.py
"""
import muse

for form in ("wujue", "qijue", "wulv", "qilv"):
    poem = muse.write_poems(request=muse.PoemRequest(form=form, rhyme=True), seed=1)[0]
    assert not muse.check_chinese_form(poem, form, rhyme=True)
    print(f"[{form}]\n{poem}\n")

print(muse.write_poems(request=muse.PoemRequest(form="qijue", acrostic="春江花月"), seed=2)[0], "\n")

quatrain = muse.write_poems(request=muse.PoemRequest(lines=4, rhyme_scheme="AABB"), seed=3)[0]
print(quatrain)
